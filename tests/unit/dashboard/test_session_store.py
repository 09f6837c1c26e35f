"""``heavylift.state.sessions``: dashboard sessions as Redis keys with a TTL, against a real
redis-server."""

from __future__ import annotations

import redis

from heavylift.state.keys import Layout
from heavylift.state.sessions import SessionStore

LAYOUT = Layout("ns")


def sessions(client: redis.Redis, max_age_s: int = 600) -> SessionStore:
    return SessionStore(client, LAYOUT, max_age_s)


def test_a_session_is_a_random_id_with_its_user_csrf_token_and_ttl(
    redis_client: redis.Redis,
) -> None:
    store = sessions(redis_client)
    one, two = store.create("admin"), store.create("admin")
    assert one.id != two.id and one.csrf != two.csrf and one.id != one.csrf
    assert len(one.id) == 43 and len(one.csrf) == 43  # 32 random bytes each
    assert store.get(one.id) == one
    assert 590 < redis_client.ttl(LAYOUT.dashboard_session(one.id)) <= 600
    assert set(redis_client.keys("*")) == {
        LAYOUT.dashboard_session(one.id).encode(),
        LAYOUT.dashboard_session(two.id).encode(),
    }


def test_ending_a_session_deletes_it(redis_client: redis.Redis) -> None:
    store = sessions(redis_client)
    one = store.create("admin")
    store.end(one.id)
    assert store.get(one.id) is None
    assert redis_client.exists(LAYOUT.dashboard_session(one.id)) == 0
    store.end(one.id)  # twice is fine


def test_a_new_session_replaces_the_old_one_in_the_same_step(redis_client: redis.Redis) -> None:
    store = sessions(redis_client)
    old = store.create("admin")
    new = store.create("admin", replacing=old.id)
    assert store.get(old.id) is None and store.get(new.id) == new


def test_ids_that_could_not_have_been_made_here_are_never_looked_up(
    redis_client: redis.Redis,
) -> None:
    store = sessions(redis_client)
    made = store.create("admin")
    redis_client.set(LAYOUT.dashboard_session("*"), "{}")
    for bogus in ["", "x", "*", made.id + "x", made.id[:-1], "a" * 10_000, "../" * 15 + "a"]:
        assert store.get(bogus) is None
        store.end(bogus)
    assert store.get(made.id) == made  # ending a near miss touched nothing


def test_an_unreadable_session_is_no_session(redis_client: redis.Redis) -> None:
    store = sessions(redis_client)
    made = store.create("admin")
    redis_client.set(LAYOUT.dashboard_session(made.id), b"\xff not json")
    assert store.get(made.id) is None
    redis_client.set(LAYOUT.dashboard_session(made.id), '{"user": 1}')
    assert store.get(made.id) is None
