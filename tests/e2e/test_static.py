"""The admin's CSS and JavaScript are served with DEBUG off (WhiteNoise, straight from the
installed packages): by `runserver` with the README's settings, and by the application
under any WSGI server."""

import urllib.request

import pytest

from tests.subprocesses import free_port, running_manage

CSS = "/static/admin/css/base.css"


def test_the_application_serves_the_admin_css_with_debug_off(client, settings):
    settings.DEBUG = False
    response = client.get(CSS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"body" in b"".join(response.streaming_content)


@pytest.mark.e2e
def test_runserver_serves_the_admin_css_with_debug_off():
    url = f"http://127.0.0.1:{free_port()}"
    with running_manage(
        "runserver",
        url.removeprefix("http://"),
        "--noreload",
        env={"DEBUG": "false"},
        ready_url=url + "/admin/login/",
    ):
        with urllib.request.urlopen(url + CSS, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/css")
            assert b"body" in response.read()
