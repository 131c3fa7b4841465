#!python
# Counts each visitor's visits and remembers when they last came. The counts
# live in visits.json in the owner's private directory (the working directory).
import html
import json
import time

VISITS = "visits.json"

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
