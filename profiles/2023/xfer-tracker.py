#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# Shows the last transfer between the owner and the visitor, either way.
import api
import html

owner = api.call("get_self")
visitor = api.call("get_visitor")

last = None
for x in api.call("get_xfers", username=owner):        # newest first
    if {x["sender"], x["recipient"]} == {owner, visitor} and owner != visitor:
        last = x
        break

if last is None:
    print(f"<p>No transfers between {html.escape(owner)} and {html.escape(visitor)} yet.</p>")
else:
    print(f"<p>Last transfer: {html.escape(last['sender'])} gave {html.escape(last['recipient'])}"
          f" {last['amount']} zoobars @ {last['time']}</p>")
