"""Check 9: the store's database, its schema, the local spool and AuthCode claims."""
from __future__ import annotations

import os
from typing import List, Tuple

from .base import (
    FAIL,
    OK,
    SKIP,
    WARN,
    CheckResult,
    DoctorContext,
    _both,
    _result,
)

_STORE_TITLE = "数据库与本地队列 / Store, schema and spool"


def check_store(ctx: DoctorContext) -> List[CheckResult]:
    """Check 9: the store's database answers, its schema is current (else ``flask wecom db upgrade``), no spooled
    callback event or exchange answer was set aside in ``failed/``, no AuthCode claim lapsed unfinished."""
    from ..health import auth_codes_line, schema_line, spool_line, store_health
    from ..schema import APP_VERSION_TABLE, HEAD, UPGRADE_COMMAND

    store = getattr(ctx.provider, "store", None)
    if store is None:
        return [_result("store", _STORE_TITLE, SKIP, _both("没有数据库", "no store"), step=9)]
    health = store_health(store, getattr(ctx.provider, "spool", None))
    details = [f"schema: {schema_line(health)}", f"spool: {spool_line(health)}",
               f"AuthCodes: {auth_codes_line(health)}"]
    if health.schema is None:
        return [_result(
            "store", _STORE_TITLE, FAIL,
            _both("无法连接数据库", "the store's database cannot be reached") + f": {health.schema_error}",
            _both("检查 WECOM_DATABASE_URI 指向的数据库是否在运行、可以访问；此期间登录答 503，"
                  "模板回调事件存入本地队列，数据库恢复后自动补处理",
                  "check that the database WECOM_DATABASE_URI points at is running and reachable; meanwhile logins "
                  "answer 503 and template callback events wait in the local spool, applied once it is back"),
            step=9, details=details)]
    if health.schema.newer:
        return [_result(
            "store", _STORE_TITLE, FAIL,
            _both(f"数据表版本 {health.schema.current} 比本程序（{HEAD}）新，本程序拒绝使用",
                  f"the schema is at {health.schema.current}, newer than this flask-wecom ({HEAD}): the store "
                  "refuses to run"),
            _both("所有主机运行同一版本的 flask-wecom", "run the same flask-wecom version on every host"),
            step=9, details=details)]
    problems: List[Tuple[str, str]] = []
    fixes: List[Tuple[str, str]] = []
    if health.schema_behind:
        app_managed = health.schema.version_table == APP_VERSION_TABLE
        command = "flask db upgrade` / `alembic upgrade heads" if app_managed else UPGRADE_COMMAND
        problems.append((f"数据表版本 {health.schema.describe()} 落后于 {HEAD}",
                         f"the schema is at {health.schema.describe()}, behind {HEAD}"))
        fixes.append((f"运行 `{command}`（部署时、启动 worker 之前）",
                      f"run `{command}` (as a deploy step, before the workers start)"))
    if health.spool_failed:
        failed = len(health.spool_failed)
        folder = os.path.join(health.spool_directory or "", "failed")
        problems.append((f"本地队列有 {failed} 项无法处理，已移到 {folder}",
                         f"{failed} spooled item(s) could not be applied and were set aside in {folder}"))
        fixes.append((
            "每个文件是一个回调事件或一次换取永久授权码的结果；"
            "服务器日志「spooled entry <名称> cannot be applied」写明原因。"
            "若更换过 SECRET_KEY / WECOM_STORE_KEY，先用旧密钥启动，把文件移回上一级目录"
            "（下次巡检会且只会处理一次），再换新密钥；处理完毕后删除该文件",
            "each file is a callback event or the answer of an AuthCode exchange; the server log line 'spooled "
            "entry <name> cannot be applied' says why. If SECRET_KEY / WECOM_STORE_KEY changed, start with the old "
            "key and move the file back into the folder above (the next sweep applies it, once), then switch keys; "
            "delete the file once it is handled"))
    lapsed = (health.auth_codes or {}).get("lapsed", 0)
    if lapsed:
        problems.append((f"{lapsed} 个临时授权码领取后超过 10 分钟仍未换到永久授权码，已失效",
                         f"{lapsed} AuthCode(s) were claimed over 10 minutes ago and never exchanged: WeCom no "
                         "longer accepts them"))
        fixes.append(("用 `flask wecom corps` 查看该企业是否已授权；未授权请企业管理员重新扫码授权",
                      "check `flask wecom corps`; a corp missing there must have its admin authorize again"))
    if problems:
        return [_result("store", _STORE_TITLE, WARN,
                        _both("；".join(p[0] for p in problems), "; ".join(p[1] for p in problems)),
                        _both("；".join(f[0] for f in fixes), "; ".join(f[1] for f in fixes)),
                        step=9, details=details)]
    return [_result("store", _STORE_TITLE, OK,
                    _both(f"数据库可用，数据表版本 {health.schema.describe()} 为最新，本地队列无失败项",
                          f"the database answers, the schema is at {health.schema.describe()} (current), no "
                          "spooled item failed"),
                    step=9, details=details)]
