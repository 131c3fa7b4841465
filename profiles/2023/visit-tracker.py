#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# Counts each visitor's visits and remembers when they last came. The counts
# live in /data/visits.json, the owner's private persistent directory.
import api
import html
import json
import time

VISITS = "/data/visits.json"

visitor = api.call("get_visitor")
try:
    with open(VISITS) as f:
        visits = json.load(f)
except (OSError, ValueError):
    visits = {}

record = visits.get(visitor, {"count": 0, "last": None})
count = record["count"] + 1
last = time.ctime(record["last"]) if record["last"] is not None else "never"
visits[visitor] = {"count": count, "last": time.time()}
with open(VISITS, "w") as f:
    json.dump(visits, f)

print(f"<p>Dear {html.escape(visitor)}, this is visit number {count} of yours.</p>")
print(f"<p>Your previous visit: {last}.</p>")
