"""``flask wecom …``, registered by ``WeCom(app)`` without importing the commands' modules.

The commands need the doctor, the schema (SQLAlchemy, Alembic), the hub's client tools: ~30 ms and
several MB that a web worker, which never runs a command, need not pay at start-up. :data:`wecom_group`
stands in for :data:`flask_wecom.cli.wecom_cli` in ``app.cli`` and hands over to it as soon as the
``flask`` command reaches it (to list, run or show the help of ``wecom``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import click

__all__ = ["LazyGroup", "wecom_group"]


class LazyGroup(click.Group):
    """A click group that is ``module:attribute``'s group, imported when the command line first needs it."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self._target = target
        self._group: Optional[click.Group] = None

    @property
    def group(self) -> click.Group:
        if self._group is None:
            import importlib

            module, attribute = self._target.split(":")
            self._group = getattr(importlib.import_module(module), attribute)
        return self._group

    # click runs a command through make_context + the context's command, so the real group takes over here
    def make_context(self, info_name: Optional[str], args: List[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        return self.group.make_context(info_name, args, parent=parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.group.get_short_help_str(limit)

    def get_help(self, ctx: click.Context) -> str:
        return self.group.get_help(ctx)

    def list_commands(self, ctx: click.Context) -> List[str]:
        return self.group.list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        return self.group.get_command(ctx, cmd_name)

    def to_info_dict(self, ctx: click.Context) -> Dict[str, Any]:
        return self.group.to_info_dict(ctx)


#: ``flask wecom``: flask_wecom.cli.wecom_cli, imported when used
wecom_group = LazyGroup("wecom", "flask_wecom.cli:wecom_cli")
