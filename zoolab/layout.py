"""Where things are on a deployed site, defined once for the Python side.

Inside every container (group_vars/all/zoolab.yml, fixed by the course):
``home`` (/home/student, or the edition's root), ``app_dir``, ``zook_conf``,
``db_dir`` and ``sandbox_root``; runit's service directory of a container is
``<zoolab_sv_dir>/<name>`` (the zoolab-init template makes it).
On the host (group_vars/all/provision.yml ``zoolab_ct_dir``): each
container's bind-mounted directories ``<ct>/<name>/{home,etc,log}``.

Both sides read these from group_vars (provision.yml defines them once);
tests/provision/test_layout.py checks nothing spells them otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

@dataclass(frozen=True)
class Layout:
    home: PurePosixPath
    app_dir: PurePosixPath
    zook_conf: PurePosixPath
    db_dir: PurePosixPath
    sandbox_root: PurePosixPath
    state_dir: PurePosixPath
    ct_root: PurePosixPath
    sv_root: PurePosixPath

    # -- inside a container --------------------------------------------------------
    def sv_dir(self, name: str) -> PurePosixPath:
        """runit's directory of container ``name``'s service (``sv status`` it)."""
        return self.sv_root / name

    # -- on the host -----------------------------------------------------------------

    def ct_dir(self, name: str) -> PurePosixPath:
        return self.ct_root / name

    def ct_home(self, name: str) -> PurePosixPath:
        """The host directory mounted as ``home`` in container ``name``."""
        return self.ct_dir(name) / "home"

    def ct_log(self, name: str) -> PurePosixPath:
        """The current log of container ``name``'s service (svlogd)."""
        return self.ct_dir(name) / "log" / "current"


def site_layout(overrides: dict | None = None) -> Layout:
    """The layout group_vars (or ``overrides``) describe."""
    from zoolab import group_vars

    gv = group_vars.load(overrides)
    return Layout(home=PurePosixPath(gv["zoolab_home"]), app_dir=PurePosixPath(gv["zoolab_app_dir"]),
                  zook_conf=PurePosixPath(gv["zoolab_zookconf_path"]),
                  db_dir=PurePosixPath(gv["zoolab_db_dir"]),
                  sandbox_root=PurePosixPath(gv["zoolab_sandbox_root"]),
                  state_dir=PurePosixPath(gv["zoolab_state_dir"]),
                  ct_root=PurePosixPath(gv["zoolab_ct_dir"]), sv_root=PurePosixPath(gv["zoolab_sv_dir"]))
