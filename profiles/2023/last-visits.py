#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# Shows the last three visitors before this one, newest first, with when they
# came; the visit log is /data/last_visits_<owner>.dat (the owner's /data).
import api
import html
import time

owner = api.call("get_self")
visitor = api.call("get_visitor")
log = f"/data/last_visits_{owner.encode().hex()}.dat"   # any owner name makes a plain file name

try:
    with open(log) as f:
        entries = [line.rstrip("\n").split(" ", 1) for line in f if " " in line]
except OSError:
    entries = []

print("<p>Last visitors:</p>")
if entries:
    print("<ul>")
    for when, who in reversed(entries[-3:]):
        print(f"<li>{html.escape(who)} at {time.ctime(float(when))}</li>")
    print("</ul>")
else:
    print("<p>nobody yet, you are the first</p>")

entries.append([f"{time.time():f}", visitor])
with open(log, "w") as f:
    f.writelines(f"{when} {who}\n" for when, who in entries[-3:])
