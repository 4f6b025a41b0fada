"""The local stack: DynamoDB Local, moto's SNS server and an HTTP front that reads template.yaml.

template.yaml is read through aws-sam-translator (`local.translation`), so functions, routes, authorizers and
the sweep's state machine are the plain CloudFormation that deploys.

`make run` (or `python -m local`) runs the real handlers on 127.0.0.1 without an AWS account or Docker:

- HTTP front on 127.0.0.1:3000 (`PORT` or `--port`): every HttpApi route of template.yaml, HTTP API v2 events,
  the JWT authorizer checked against a local signing key.
- DynamoDB Local on port 8000 (`--dynamodb-port`, `LOCAL_DYNAMODB_PORT`), data in `.local/dynamodb/`
  (`--data-dir`, `LOCAL_DATA_DIR`; `--in-memory` keeps nothing). Note: DynamoDB Local has no bind-address
  option, it listens on every interface of the machine.
- moto's server for SNS on 127.0.0.1:4575 (`--sns-port`, `LOCAL_SNS_PORT`), the template's topics created.
- Local routes: `POST /_local/token` {role, sub?, clinic_id?} -> {token}; `GET /_local/notices`;
  `POST /_local/sweep` (one execution of the real state machine definition, `local.states`); more are added
  by modules listed in `local.stack.LOCAL_ROUTE_MODULES` (each has `register(routes, stack)`).
"""
