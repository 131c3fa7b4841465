#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# Gives each visitor 1 of the owner's zoobars, at most once a minute per
# visitor, but nothing to visitors who already have more than 20, and says so
# when the owner has none left. Grant times live in /data/grants.json.
import api
import json
import time

GRANTS = "/data/grants.json"
RICH = 20
PERIOD = 60

owner = api.call("get_self")
visitor = api.call("get_visitor")
try:
    with open(GRANTS) as f:
        grants = json.load(f)
except (OSError, ValueError):
    grants = {}

now = time.time()
mine = api.call("get_user_info", username=owner)["zoobars"]
theirs = api.call("get_user_info", username=visitor)["zoobars"]

if visitor == owner:
    print("<p>This is your own granter; it gives to visitors.</p>")
elif theirs > RICH:
    print(f"<p>You have {theirs} zoobars already; the granter helps those with {RICH} or fewer.</p>")
elif now - grants.get(visitor, 0) < PERIOD:
    wait = int(PERIOD - (now - grants[visitor])) + 1
    print(f"<p>You got a zoobar less than a minute ago; come back in {wait} seconds.</p>")
elif mine < 1:
    print("<p>Sorry, the owner is broke: no zoobars left to give.</p>")
else:
    api.call("xfer", target=visitor, zoobars=1)
    grants[visitor] = now
    with open(GRANTS, "w") as f:
        json.dump(grants, f)
    print("<p>Here is 1 zoobar for you. Come back in a minute!</p>")
