"""What the image service reports; api/errors.py maps each to its HTTP status."""
from __future__ import annotations


class ImageServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ImageServiceError):
    pass


class Forbidden(ImageServiceError):
    pass


class NotFound(ImageServiceError):
    @classmethod
    def image(cls, image_id: str) -> NotFound:
        """The one way an image that is not there (or not the caller's to see) is reported."""
        return cls(f"No image found with ID {image_id}")


class Conflict(ImageServiceError):
    pass


class QuotaExceeded(ImageServiceError):
    """Glance answers 413 when a per-image limit (properties, tags, members, size) is exceeded."""


class ServiceUnavailable(ImageServiceError):
    pass
