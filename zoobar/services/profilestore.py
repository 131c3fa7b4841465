"""profilestore: the only holder of profile texts (database ``profile``).

Anyone the table lets in (dynamic, profile) may read a profile; writing one
needs the owner's token, which the store checks with auth.
"""

from __future__ import annotations

from sqlalchemy import String, Text, bindparam, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zoobar import db, rpc

MAX_PROFILE_BYTES = 64 * 1024


class ProfileBase(DeclarativeBase):
    pass


class Profile(ProfileBase):
    __tablename__ = "profile"
    username: Mapped[str] = mapped_column(String, primary_key=True)
    profile: Mapped[str] = mapped_column(Text, nullable=False)


profile_db = db.Database("profile", ProfileBase)
_PROFILE = select(Profile.profile).where(Profile.username == bindparam("username"))


class ProfileStore(rpc.Service):
    name = "profilestore"

    @rpc.method(callers={"dynamic", "profile"})
    def get_profile(self, username: str) -> str:
        found = profile_db.read(_PROFILE, username=username)
        return found[0].profile if found else ""

    @rpc.method(callers={"dynamic"})
    def set_profile(self, username: str, token: str, text: str) -> None:
        if len(text.encode("utf-8", "surrogatepass")) > MAX_PROFILE_BYTES:
            raise rpc.Refused(f"a profile is limited to {MAX_PROFILE_BYTES} bytes")
        if not rpc.client("auth").call("check_token", username=username, token=token):
            raise rpc.Refused("not authorised: invalid token")
        with profile_db.session() as s:
            db.put(s, Profile, username, profile=text)


def make_service() -> ProfileStore:
    return ProfileStore()
