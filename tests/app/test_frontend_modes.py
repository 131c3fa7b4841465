"""The front end under zookfs/CGI as well as gunicorn, executable profiles, and a
profile service that is down."""

from __future__ import annotations

import requests

from tests.app.helpers import register, save_profile_and_view, send, unique, zoobars_on_users_page
from tests.stack import running_stack
from zoolab.site import SiteClient

WITHOUT_PROFILE = ["dynamic", "auth", "bank", "honeychecker", "profilestore"]


class DirectStack:
    """Talk to the front end's own address (no zookd2) of a partial stack."""

    def __init__(self, stack):
        self.stack = stack
        host, port = stack.address("dynamic")
        self.base = f"http://{host}:{port}"

    def url(self, path: str = "") -> str:
        return f"{self.base}/zoobar/index.cgi/{path}"


def test_cgi_front_end_under_zookfs_serves_the_same_site(tmp_path):
    with running_stack(tmp_path, frontend="cgi") as stack:
        assert stack.sup.conf.get("dynamic", "cmd") == "zookfs"
        a, b = unique(), unique()
        web = register(stack, a)
        register(stack, b)
        assert "Balance: 10 zoobars" in web.last.text
        send(web, stack, b, "3")
        assert zoobars_on_users_page(web, stack, b) == 13


def test_executable_profile_output_is_shown_sanitised(local_stack, two_users):
    (a, web_a), (b, web_b) = two_users
    code = ("#!python\nprint('hi  ' + api.call('get_visitor') + ' from ' + api.call('get_self'))"
            "\nprint('<b>bold</b><img src=x onerror=alert(1)>')\n")
    shown = save_profile_and_view(local_stack, web_a, a, web_b, code)
    assert f"hi  {b} from {a}" in shown and "<b>bold</b>" in shown
    assert "onerror" not in shown


def test_executable_profile_with_the_profile_service_down_says_so(tmp_path):
    with running_stack(tmp_path, sections=WITHOUT_PROFILE) as stack:
        site = DirectStack(stack)
        owner, visitor = unique(), unique()
        web = register(site, owner)
        web.post(site.url(), data={"profile_update": "#!python\nprint('x')\n",
                                   "profile_submit": "Save"}, timeout=30)
        page = register(site, visitor).get(site.url("users"), params={"user": owner},
                                           timeout=30)
        assert page.status_code == 200
        assert "profile service is unavailable" in page.text
        assert '<span id="zoobars" class="10">' in page.text


def test_plain_profile_needs_no_profile_service(tmp_path):
    with running_stack(tmp_path, sections=WITHOUT_PROFILE) as stack:
        site = DirectStack(stack)
        owner = unique()
        web = register(site, owner)
        web.post(site.url(), data={"profile_update": "just <i>text</i>",
                                   "profile_submit": "Save"}, timeout=30)
        page = web.get(site.url("users"), params={"user": owner}, timeout=30).text
        assert "just <i>text</i>" in page


def test_a_service_that_is_down_gives_a_clear_503(tmp_path):
    with running_stack(tmp_path, sections=["dynamic"]) as stack:
        page = requests.get(DirectStack(stack).url("echo?s=x"), timeout=30)
        assert page.status_code == 503 and "not answering" in page.text


def test_a_service_missing_from_zook_conf_gives_a_clear_500(tmp_path, monkeypatch):
    conf = tmp_path / "zook.conf"
    conf.write_text("[dynamic]\n    host = 127.0.0.1\n    port = 1\n")
    monkeypatch.setenv("ZOOK_CONF", str(conf))
    monkeypatch.setenv("ZOOK_SECTION", "dynamic")
    from zoobar.frontend import create_app

    page = create_app().test_client().get("/echo?s=x")
    assert page.status_code == 500 and b"misconfigured" in page.data


def test_a_name_the_front_end_does_not_know_is_not_found_and_its_profile_never_runs(
        local_stack, two_users):
    # The bank and the profile store know the name (rows put there directly),
    # the front end's person table does not: the page says so, and the
    # profile, which would give the visitor a zoobar, is not run.
    (visitor, web), _ = two_users
    ghost = unique("ghost")
    local_stack.query("bank", "INSERT INTO bank (username, zoobars) VALUES (?, 10)", (ghost,))
    code = f"#!python\napi.call('xfer', target={visitor!r}, zoobars=1)\nprint('ghost-profile-ran')\n"
    local_stack.query("profile", "INSERT INTO profile (username, profile) VALUES (?, ?)",
                      (ghost, code))
    page = web.get(local_stack.url("users"), params={"user": ghost}, timeout=30)
    assert page.status_code == 200 and "Cannot find that user" in page.text
    assert "ghost-profile-ran" not in page.text
    assert zoobars_on_users_page(web, local_stack, visitor) == 10


def test_users_page_with_the_bank_down_gives_a_clear_503(tmp_path):
    # The page's reads are under way at once (rpc.submit): a failed one still
    # reaches the visitor as the service-down page, not as a traceback.
    with running_stack(tmp_path, sections=WITHOUT_PROFILE) as stack:
        site = DirectStack(stack)
        owner = unique()
        web = register(site, owner)
        stack.sup.restart = False
        bank = stack.sup.children["bank"].proc
        bank.terminate()
        bank.wait(10)
        page = web.get(site.url("users"), params={"user": owner}, timeout=30)
        assert page.status_code == 503 and "not answering" in page.text


def test_a_profile_changed_between_executable_and_plain_shows_what_it_is_now(
        local_stack, two_users):
    # The front end asks early for the run of a profile that was executable
    # when it last showed it (a hint per process): after each change every
    # view (either gunicorn worker) shows the profile as it is now.
    (owner, web_owner), (visitor, web_visitor) = two_users
    site = SiteClient(local_stack.base, timeout=60, session=web_visitor)

    def views(n: int = 4) -> list[str]:
        return [site.users(owner).text.split("<h3>Transfers")[0] for _ in range(n)]

    run = "#!python\nprint('run-output-' + api.call('get_visitor'))\n"
    assert f"run-output-{visitor}" in save_profile_and_view(local_stack, web_owner, owner,
                                                            web_visitor, run)
    assert all(f"run-output-{visitor}" in v for v in views())
    plain = "plain words now, #!python later"
    first = save_profile_and_view(local_stack, web_owner, owner, web_visitor, plain)
    for shown in [first, *views()]:
        assert plain in shown and "run-output" not in shown and "error" not in shown, shown
    first = save_profile_and_view(local_stack, web_owner, owner, web_visitor, run)
    assert all(f"run-output-{visitor}" in v for v in [first, *views()])
