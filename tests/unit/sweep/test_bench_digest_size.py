"""bench.digest_size keeps working (a tiny clinic, no figures asserted beyond what must hold at any size)."""

from __future__ import annotations

from bench import digest_size


def test_each_night_is_measured_and_the_first_night_sends_no_missed_history() -> None:
    nights = digest_size.nights(60)
    assert set(nights) == {"ordinary", "3-night gap", "first night"}
    assert not [i for i in nights["first night"] if i.get("state") == "missed"]
    assert len(nights["ordinary"]) <= len(nights["3-night gap"])
    sizes = digest_size.run(60)
    assert [s.night for s in sizes] == ["ordinary", "3-night gap", "first night"]
    assert all(s.messages <= 1 and s.patients == 60 for s in sizes)
    assert all(s.email_lines == s.with_items for s in sizes)  # fewer than 300 patients: a line each
    assert digest_size.HEADER.split()[0] == "night"
    assert len(digest_size.table(sizes).splitlines()) == 4
