"""The local stack: DynamoDB Local, moto's SNS server and an HTTP front that reads template.yaml.

`python -m local` (or `make run`) runs the real handlers on 127.0.0.1 without an AWS account or Docker.
"""
