"""The WSGI application: OpenStack middleware around the Images API router."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import webob
import webob.exc
from oslo_config import cfg
from oslo_middleware import cors, http_proxy_to_wsgi
from oslo_middleware.request_id import ENV_REQUEST_ID
from oslo_policy import opts as policy_opts

from spyglass import config, health
from spyglass.api import data, images, info, members, schemas, tags, versions
from spyglass.api.base import CONTEXT_KEY, Services, Settings
from spyglass.api.errors import http_error
from spyglass.api.router import Router
from spyglass.context import RequestContext
from spyglass.db.engine import create_engine
from spyglass.db.repo import ImageRepository
from spyglass.images.data import ImageData, InspectionSettings
from spyglass.images.errors import ImageServiceError
from spyglass.images.listing import Limits
from spyglass.images.leftovers import remove_leftover_data
from spyglass.images.members import ImageMembers
from spyglass.images.policy import Policy
from spyglass.images.properties import Formats
from spyglass.images.service import ImageService, Quotas
from spyglass.images.uploads import UploadJournal
from spyglass.request_id import request_id_middleware
from spyglass.stores import registry

LOG = logging.getLogger(__name__)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def build_router() -> Router:
    r = Router()
    r.add("/", GET=versions.multiple_choices)
    r.add("/versions", GET=versions.index)
    r.add("/v2", GET=versions.redirect_to_v2)
    # With `auth_type: none` the openstack CLI sends its identity look-ups (a project named on the
    # command line) to this same endpoint; a 403 makes it use the name as given, a 404 fails it.
    for identity_path in ("/v2/tenants", "/v2/tenants/{name}", "/v3/projects", "/v3/projects/{name}"):
        r.add(identity_path, GET=versions.no_identity_api)
    r.add("/v2/images", GET=images.index, POST=images.create)
    r.add("/v2/images/{image_id}", GET=images.show, PATCH=images.update, DELETE=images.delete)
    r.add("/v2/images/{image_id}/file", GET=data.download, PUT=data.upload)
    r.add("/v2/images/{image_id}/tags/{tag}", PUT=tags.add, DELETE=tags.delete)
    r.add("/v2/images/{image_id}/members", GET=members.index, POST=members.create)
    r.add("/v2/images/{image_id}/members/{member_id}", GET=members.show, PUT=members.update,
          DELETE=members.delete)
    r.add("/v2/images/{image_id}/actions/deactivate", POST=images.deactivate)
    r.add("/v2/images/{image_id}/actions/reactivate", POST=images.reactivate)
    r.add("/v2/schemas/image", GET=schemas.image)
    r.add("/v2/schemas/images", GET=schemas.images)
    r.add("/v2/schemas/member", GET=schemas.member)
    r.add("/v2/schemas/members", GET=schemas.members)
    r.add("/v2/info/import", GET=info.import_methods)
    r.add("/v2/info/stores", GET=info.stores)
    return r


def build_services(conf: cfg.ConfigOpts) -> Services:
    engine = create_engine(config.database_url(conf), sqlite_busy_timeout=conf.database.busy_timeout)
    repo = ImageRepository(engine)
    stores = registry.from_config(conf)
    fmt = conf.image_format
    image_service = ImageService(
        repo, stores, Policy(conf),
        limits=Limits(default=min(conf.limit_param_default, conf.api_limit_max), maximum=conf.api_limit_max),
        quotas=Quotas(properties=conf.image_property_quota, tags=conf.image_tag_quota,
                      members=conf.image_member_quota,
                      image_size_cap=conf.image_size_cap, storage=config.storage_quota(conf)),
        formats=Formats(disk=tuple(fmt.disk_formats), container=tuple(fmt.container_formats)),
    )
    inspection = InspectionSettings(
        require_format_match=fmt.require_image_format_match,
        vmdk_allowed_types=tuple(fmt.vmdk_allowed_types),
        gpt_safety_checks_nonfatal=tuple(fmt.gpt_safety_checks_nonfatal),
    )
    settings = Settings(
        show_multiple_locations=conf.show_multiple_locations,
        show_image_direct_url=conf.show_image_direct_url,
        public_endpoint=conf.public_endpoint,
        enabled_import_methods=tuple(conf.enabled_import_methods),
    )
    journal = UploadJournal(config.data_dir(conf) / "uploads")
    return Services(images=image_service, data=ImageData(image_service, journal, inspection, conf.hashing_algorithm),
                    members=ImageMembers(image_service), settings=settings)


class ImagesApi:
    def __init__(self, services: Services, conf: cfg.ConfigOpts) -> None:
        self.services = services
        self.router = build_router()
        self.noauth = conf.noauth

    def _context(self, environ: dict[str, Any]) -> RequestContext:
        # The identity headers straight from the environ: webob's header view costs more here
        # than the rest of building the context.
        project = environ.get("HTTP_X_PROJECT_ID") or environ.get("HTTP_X_TENANT_ID")
        user = environ.get("HTTP_X_USER_ID")
        roles_header = environ.get("HTTP_X_ROLES")
        if project is None and user is None and roles_header is None:
            project, user, roles = self.noauth.project_id, self.noauth.user_id, list(self.noauth.roles)
        else:
            roles = [r.strip().lower() for r in (roles_header or "").split(",") if r.strip()]
        policy = self.services.images.policy
        return RequestContext(project_id=project, user_id=user, roles=tuple(roles),
                              is_admin=policy.is_admin(roles, project, user),
                              request_id=environ.get(ENV_REQUEST_ID))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = webob.Request(environ)
        resp = self._respond(req)
        return resp(environ, start_response)

    def _respond(self, req: webob.Request) -> webob.Response:
        try:
            path = req.path_info
            if not path.startswith(("/v2/", "/v3/projects")) and path not in ("/", "/v2", "/versions"):
                # Like Glance's version negotiation: a path of no version served gets the choices.
                return versions.multiple_choices(self.services, req)
            handler, params = self.router.match(req.method, path)
            req.environ[CONTEXT_KEY] = self._context(req.environ)
            return handler(self.services, req, **params)
        except ImageServiceError as exc:
            return http_error(exc)
        except webob.exc.HTTPException as exc:
            return exc
        except Exception:
            # The request ID is in the 500's x-openstack-request-id header: the way from a
            # client's report to this traceback.
            LOG.exception("unexpected error serving %s %s (%s)", req.method, req.path_info,
                          req.environ.get(ENV_REQUEST_ID))
            return webob.exc.HTTPInternalServerError(
                explanation="The server hit an unexpected error.")


def register_middleware_options(conf: cfg.ConfigOpts) -> None:
    """The options of the middleware and libraries the application builds: registered when it is
    built, and by the start-up check of the config files (spyglass.config_check) before that."""
    health.register_opts(conf)
    conf.register_opts(http_proxy_to_wsgi.OPTS, group="oslo_middleware")
    cors.set_defaults(**CORS_DEFAULTS)
    conf.register_opts(cors.CORS_OPTS, group="cors")
    for group, options in policy_opts.list_opts():
        conf.register_opts(options, group=group)


def build_app(conf: cfg.ConfigOpts) -> WSGIApp:
    register_middleware_options(conf)
    api = ImagesApi(build_services(conf), conf)
    app: WSGIApp = health.healthcheck_middleware(api, conf)
    app = request_id_middleware(app)
    # With `[oslo_middleware] enable_proxy_headers_parsing` off (the default) the proxy middleware
    # passes requests through untouched, yet building its webob request costs a third of a small
    # GET: it is only in the pipeline when it has something to do.
    if conf.oslo_middleware.enable_proxy_headers_parsing:
        app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf=conf)
    return _with_cors(app, conf)


# Glance's CORS defaults, so that a dashboard set up for Glance (Horizon's direct image upload)
# works unchanged once `[cors] allowed_origin` names it.
CORS_DEFAULTS = {
    "allow_headers": ["Content-MD5", "X-Image-Meta-Checksum", "X-Storage-Token", "Accept-Encoding",
                      "X-Auth-Token", "X-Identity-Status", "X-Roles", "X-Service-Catalog", "X-User-Id",
                      "X-Tenant-Id", "X-OpenStack-Request-ID"],
    "expose_headers": ["X-Image-Meta-Checksum", "X-Auth-Token", "X-Subject-Token", "X-Service-Token",
                       "X-OpenStack-Request-ID"],
    "allow_methods": ["GET", "PUT", "POST", "DELETE", "PATCH"],
}


def _with_cors(app: WSGIApp, conf: cfg.ConfigOpts) -> WSGIApp:
    """oslo.middleware's CORS, outermost as in Glance's pipeline, when an origin is allowed; like
    the proxy middleware, it costs every request a webob round trip, so it is left out otherwise."""
    if not conf.cors.allowed_origin:
        return app
    return cors.CORS(app, conf)


def recover_after_crash(conf: cfg.ConfigOpts) -> None:
    """Run once at start, before the workers: undo the uploads a crashed server left in saving,
    and remove the data that deletes left behind."""
    engine = create_engine(config.database_url(conf), sqlite_busy_timeout=conf.database.busy_timeout)
    try:
        repo, stores = ImageRepository(engine), registry.from_config(conf)
        UploadJournal(config.data_dir(conf) / "uploads").recover(repo, stores)
        remove_leftover_data(repo, stores)
    finally:
        engine.dispose()
