"""Settings from HEAVYLIFT_* variables: what operators type must mean what they expect.

A width list typed by hand, a JSON list from a deploy template, a typo'd value: each must
either work or stop the process, never silently run with something else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from heavylift.config import DEV_ENV_FILE, Settings, get_settings
from heavylift.jobs.identity import default_spec


@pytest.mark.parametrize(
    ("raw", "widths"),
    [
        ("1024,256", (256, 1024)),
        ("256,256,1024,1024", (256, 1024)),
        (" 640 , 320 ", (320, 640)),
        ("[512]", (512,)),
        ("[1024, 256, 512]", (256, 512, 1024)),
        ("2048", (2048,)),
        ("16,8192", (16, 8192)),
    ],
)
def test_thumbnail_widths_from_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, widths: tuple[int, ...]
) -> None:
    """Comma lists and JSON lists both work; the result is sorted and free of duplicates."""
    monkeypatch.setenv("HEAVYLIFT_THUMBNAIL_WIDTHS", raw)
    assert Settings(_env_file=None).thumbnail_widths == widths  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "raw", ["15", "8193", "0", "-256", "256,10000", "", "[]", "abc", "256;1024"]
)
def test_bad_thumbnail_widths_are_rejected(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """A typo must stop the process at start, not produce 0-pixel or 1-gigapixel outputs."""
    monkeypatch.setenv("HEAVYLIFT_THUMBNAIL_WIDTHS", raw)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_widths_given_in_code_are_normalized_too() -> None:
    settings = Settings(_env_file=None, thumbnail_widths=[1024, 256, 256])  # type: ignore[call-arg]
    assert settings.thumbnail_widths == (256, 1024)


def test_default_spec_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The widths an operator configures are the widths every new job asks for."""
    monkeypatch.setenv("HEAVYLIFT_THUMBNAIL_WIDTHS", "1024,320")
    monkeypatch.setenv("HEAVYLIFT_THUMBNAIL_QUALITY", "70")
    spec = default_spec(Settings(_env_file=None))  # type: ignore[call-arg]
    assert spec.image_max_width == 1024
    thumbnail = spec.image[0]
    assert (thumbnail.widths, thumbnail.quality) == ((320, 1024), 70)  # type: ignore[union-attr]


def test_env_prefix_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only HEAVYLIFT_* variables count: a REDIS_URL meant for another app is ignored."""
    monkeypatch.setenv("REDIS_URL", "redis://someone-else:6379/0")
    monkeypatch.setenv("NAMESPACE", "not-ours")
    monkeypatch.setenv("HEAVYLIFT_RESULTS_BUCKET", "my-results")
    monkeypatch.setenv("HEAVYLIFT_MAX_RETRIES", "9")
    monkeypatch.setenv("HEAVYLIFT_REDIS_SOCKET_TIMEOUT_S", "0.5")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.namespace == "heavylift"
    assert settings.results_bucket == "my-results"
    assert settings.max_retries == 9
    assert settings.redis_socket_timeout_s == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HEAVYLIFT_MAX_RETRIES", "-1"),
        ("HEAVYLIFT_THUMBNAIL_QUALITY", "0"),
        ("HEAVYLIFT_THUMBNAIL_QUALITY", "101"),
        ("HEAVYLIFT_LOG_FORMAT", "xml"),
        ("HEAVYLIFT_MAX_PIXELS", "lots"),
    ],
)
def test_invalid_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_secret_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings end up in logs and tracebacks; the S3 secret must not."""
    monkeypatch.setenv("HEAVYLIFT_AWS_SECRET_ACCESS_KEY", "hunter2-very-secret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == "hunter2-very-secret"


def write_dev_env(directory: Path, text: str) -> None:
    path = directory / DEV_ENV_FILE
    path.parent.mkdir(parents=True)
    path.write_text(text)


def test_dev_env_file_is_a_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`heavylift dev up` writes ports there; exported variables still win."""
    write_dev_env(
        tmp_path, "HEAVYLIFT_REDIS_URL=redis://127.0.0.1:7777/0\nHEAVYLIFT_NAMESPACE=from-file\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEAVYLIFT_NAMESPACE", "from-env")
    settings = Settings()
    assert settings.redis_url == "redis://127.0.0.1:7777/0"
    assert settings.namespace == "from-env"


def test_env_file_none_ignores_the_dev_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_dev_env(tmp_path, "HEAVYLIFT_REDIS_URL=redis://127.0.0.1:7777/0\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_get_settings_is_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Producers and workers share one Settings; changing it needs an explicit cache clear."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("HEAVYLIFT_NAMESPACE", "first")
        first = get_settings()
        monkeypatch.setenv("HEAVYLIFT_NAMESPACE", "second")
        assert get_settings() is first and first.namespace == "first"
        get_settings.cache_clear()
        assert get_settings().namespace == "second"
    finally:
        get_settings.cache_clear()


def test_settings_are_frozen() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        settings.namespace = "changed"  # type: ignore[misc]
