"""The gRPC servicer of shop.notifications.v1.NotificationsService: reads of what was mailed, for
operators and support (role admin or service). Each method decodes, calls one use case, encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop.notifications.v1 import notifications_pb2_grpc
from shop_notifications.operations import Notifications
from shop_notifications.webhook_api import WebhookRpcs
from shopkit.auth import require_role
from shopkit.personal_data import PersonalDataRpcs

Context = grpc.aio.ServicerContext[Any, Any]


class NotificationsServicer(WebhookRpcs, PersonalDataRpcs, notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(self, notifications: Notifications):
        self.notifications = notifications

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        require_role(context)
        found, token = await self.notifications.list(request)
        return pb.ListNotificationsResponse(notifications=found, page=common_pb2.PageResponse(next_page_token=token))

    async def GetNotification(self, request: pb.GetNotificationRequest, context: Context) -> pb.GetNotificationResponse:
        require_role(context)
        return pb.GetNotificationResponse(notification=await self.notifications.get(request.notification_id))
