"""Files in and out at scale: videos, folders of stills and videos, resumable runs, Ray."""
