"""What every real-browser test shares: Debian's Chromium, its flags, and a server on a known port."""

from __future__ import annotations

from pathlib import Path

from server.config import Settings, load_settings

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` cannot download browsers here
# Without the background-networking flags Chromium keeps calling out of this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
# Fake camera and microphone, granted without a prompt, and autoplay of remote media.
MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--autoplay-policy=no-user-gesture-required"]


def settings_on_port(tmp_path: Path, database_url: str, port: int, secret_key: str) -> Settings:
    """Settings whose join links point at the port the browsers talk to."""
    return load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         secret_key=secret_key, public_url=f"http://127.0.0.1:{port}")
