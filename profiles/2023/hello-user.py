#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# Greets the visitor by name and shows the current time as a float.
import api
import html
import time

owner = api.call("get_self")
visitor = api.call("get_visitor")
print(f"<p>Hello, <b>{html.escape(visitor)}</b>! Welcome to {html.escape(owner)}'s profile.</p>")
print(f"<p>The time here is {time.time():f}.</p>")
