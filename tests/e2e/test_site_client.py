"""zoolab.site, the one client of the site the grader, soak, benches and test
helpers share: its forms work on a real stack and its parsers read real pages."""

import uuid

from zoolab.site import SiteClient, log_rows, page_text, zoobars_on_users_page


def registered(base: str, prefix: str) -> SiteClient:
    site = SiteClient(base, timeout=30)
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    assert site.logged_in_as(site.register(name, "pw").text)
    return site


def test_register_transfer_and_read_the_users_page(local_stack):
    alice, bob = registered(local_stack.base, "alice"), registered(local_stack.base, "bob")
    assert alice.balance_on_home() == 10 and alice.cookie
    assert "Sent 3 zoobars" in page_text(alice.transfer(bob.username, 3).text)
    page = bob.users(alice.username).text
    assert zoobars_on_users_page(page) == 7
    assert [alice.username, bob.username, "3"] in [row[1:] for row in log_rows(page)]


def test_profile_save_logout_and_login_again(local_stack):
    carol = registered(local_stack.base, "carol")
    carol.set_profile("hello from <b>carol</b>")
    assert "hello from" in carol.users(carol.username).text
    assert not carol.logged_in_as(carol.logout().text)
    assert carol.logged_in_as(carol.login(carol.username, "pw").text)


def test_parsers_read_the_markers_in_any_attribute_order():
    html = ('<span class="42" id="zoobars"></span><table class="log wide"><tr><th>Time</th></tr>'
            "<tr><td>t</td><td>a&amp;b</td><td>c</td><td>5</td></tr></table>")
    assert zoobars_on_users_page(html) == 42
    assert log_rows(html) == [["Time"], ["t", "a&b", "c", "5"]]
    assert zoobars_on_users_page("<span id='other' class='1'>") is None
