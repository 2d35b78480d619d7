"""What the sales bot's handlers need, injected through the Dispatcher as `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from booking_webhook.core.config import Settings
from booking_webhook.kube import Kube
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient


@dataclass(frozen=True)
class SalesDeps:
    settings: Settings
    store: Store
    kube: Kube
    yookassa: YooKassaClient
