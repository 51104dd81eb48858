"""The 24Metrics emulator the sandbox mounts: its routes, its error body, and what ``reset`` forgets.

The handlers live with the state they touch: filter groups (:mod:`.groups`), the Download
Center (:mod:`.exports`), reports (:mod:`.reports`). Every route but the signed file URL needs
the API key. Faults beyond the generic ones: ``failed`` (the export ends ERROR with a reason)
and ``canceled`` (it ends CANCELED), on ``export.create`` and ``export.get``.
"""

from __future__ import annotations

import re
from typing import Any

from devkit.sandbox.base import Response, Route, VendorApp
from workers.vendors.metrics24.sandbox.common import error, guarded
from workers.vendors.metrics24.sandbox.exports import DownloadCenter
from workers.vendors.metrics24.sandbox.groups import FilterGroups
from workers.vendors.metrics24.sandbox.reports import Reports

__all__ = ["Metrics24App"]


class Metrics24App(VendorApp):
    name = "24metrics"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = FilterGroups(self.config)
        self.exports = DownloadCenter(self.config)
        self.reports = Reports(self.config)

    @property
    def api(self) -> str:
        return f"{self.prefix}/api/v2"

    def routes(self) -> list[Route]:
        api = re.escape(self.api)
        groups = api + r"/integrations/(?P<integration>[^/]+)/filter-groups"
        group = groups + r"/(?P<group_id>[^/]+)"
        exports = api + r"/download-center/exports"
        export = exports + r"/(?P<export_id>[^/]+)"
        outcomes = frozenset({"failed", "canceled"})
        g, x, r = self.groups, self.exports, self.reports
        return [
            Route("GET", groups, "filter_groups.list", guarded(g.list_groups)),
            Route("POST", groups, "filter_groups.create", guarded(g.create_group)),
            Route("PATCH", groups, "filter_groups.bulk_update", guarded(g.bulk_update)),
            Route("DELETE", groups, "filter_groups.bulk_delete", guarded(g.bulk_delete)),
            Route("GET", group, "filter_groups.get", guarded(g.get_group)),
            Route("PATCH", group, "filter_groups.update", guarded(g.update_group)),
            Route("DELETE", group, "filter_groups.delete", guarded(g.delete_group)),
            Route("POST", api + r"/integrations/(?P<integration>[^/]+)/download-center/"
                  r"(?P<kind>clicks|conversions|impressions)", "export.create", guarded(x.create_export),
                  faults=outcomes),
            Route("GET", exports, "export.list", guarded(x.list_exports)),
            Route("GET", export, "export.get", guarded(x.get_export), faults=outcomes),
            Route("DELETE", export, "export.delete", guarded(x.delete_export)),
            Route("GET", api + r"/download-center/url", "export.url", guarded(x.export_url)),
            # The signed storage URL: no API key, like the bucket it stands for.
            Route("GET", r"/files/24metrics/(?P<name>[A-Za-z0-9_./-]+\.csv)", "export.file", x.file),
            Route("GET", api + r"/reports/v2/click-table", "report.click", guarded(r.table("click"))),
            Route("GET", api + r"/reports/v2/conversion-table", "report.conversion", guarded(r.table("conversion"))),
            Route("GET", api + r"/reports/v2/impression-table", "report.impression", guarded(r.table("impression"))),
            Route("GET", api + r"/reports/v2/click", "lookup.click", guarded(r.lookup_click)),
            Route("GET", api + r"/reports/v2/conversion", "lookup.conversion", guarded(r.lookup_conversion)),
        ]

    def reset(self) -> None:
        self.groups.reset()
        self.exports.reset()

    def error(self, status: int, message: str) -> Response:
        return error(status, message)
