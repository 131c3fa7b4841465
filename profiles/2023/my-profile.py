#!python
# (6.566 2023+ style: `import api`, the owner's files under /data.)
# A guestbook that visitors sign from their own profiles (challenge 2).
#
# A visitor cannot type into someone else's profile, so the guestbook reads
# what the visitor wrote in *their own* profile: the first line that starts
# with "guestbook:" (a leading "#" is allowed, so an executable profile can
# carry one as a comment). Each visit signs the book with that line (or a
# plain "passed by"), and the page shows:
#   - the guestbook, newest signature first (at most 10 kept per page view),
#   - the three most faithful visitors, with their visit counts,
#   - how the visitor's balance compares with the owner's.
# It needs no API beyond DESIGN §3: get_user_info() already returns another
# user's profile text and balance. Everything it remembers is
# /data/guestbook.json, in the owner's private directory.
import api
import html
import json
import time

BOOK = "/data/guestbook.json"
KEEP = 10
MAX_NOTE = 80

owner = api.call("get_self")
visitor = api.call("get_visitor")
info = api.call("get_user_info", username=visitor) or {"profile": "", "zoobars": 0}
mine = api.call("get_user_info", username=owner)


def signature(profile):
    for line in profile.splitlines():
        line = line.lstrip("# ").strip()
        if line.lower().startswith("guestbook:"):
            return line[len("guestbook:"):].strip()[:MAX_NOTE] or "passed by"
    return "passed by"


try:
    with open(BOOK) as f:
        book = json.load(f)
except (OSError, ValueError):
    book = {"entries": [], "counts": {}}

if visitor != owner:
    book["entries"].append({"who": visitor, "note": signature(info["profile"]), "at": time.time()})
    book["entries"] = book["entries"][-KEEP:]
    book["counts"][visitor] = book["counts"].get(visitor, 0) + 1
with open(BOOK, "w") as f:
    json.dump(book, f)

print(f"<p><b>{html.escape(owner)}'s guestbook</b></p>")
if book["entries"]:
    print("<ul>")
    for e in reversed(book["entries"]):
        print(f"<li><i>{html.escape(e['note'])}</i> ({html.escape(e['who'])},"
              f" {time.ctime(e['at'])})</li>")
    print("</ul>")
else:
    print("<p>Nobody has signed yet. Put a line <i>guestbook: hello!</i> in your own profile"
          " and visit.</p>")

faithful = sorted(book["counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
if faithful:
    print("<p>Most faithful visitors:</p><ul>")
    for who, n in faithful:
        print(f"<li>{html.escape(who)}: {n} visit{'s' if n != 1 else ''}</li>")
    print("</ul>")

if visitor != owner:
    diff = info["zoobars"] - mine["zoobars"]
    rel = "richer than" if diff > 0 else "poorer than" if diff < 0 else "as rich as"
    print(f"<p>You are {rel} {html.escape(owner)} ({info['zoobars']} vs {mine['zoobars']}"
          " zoobars).</p>")
