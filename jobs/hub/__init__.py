"""The Hugging Face Hub as a source of base models: search, model rows, download, a run's fetch, prefetch, tokens.

- :mod:`jobs.hub.search`: ``search_models``, ``model_info``: find and describe Hub models, judge whether Adapta can adapt them.
  Reading the local Hugging Face cache is the model layer's (:mod:`jobs.models.hub_cache`).
- :mod:`jobs.hub.model_rows`: models as people know them (name, owner, size, licence, where), for the Models tab.
- :mod:`jobs.hub.download_plan`: check a Hub model from its metadata and plan its download, pinned to one commit.
- :mod:`jobs.hub.download`: fetch a planned download into the standard Hugging Face cache (resumed, checked, with progress).
- :mod:`jobs.hub.fetch`: the download phase of a run, pinned to one commit; :mod:`jobs.hub.prefetch`: "Download now" and
  the cache's management.
- :mod:`jobs.hub.tokens`: whose token a Hub request carries; :mod:`jobs.hub.repo_access`: whether a caller may read a Hub repo
  (asked of the Hub with their token before a cached private or gated snapshot is used on a shared server).

Sharing to the Hub (push, model card, Space) is an export and lives in :mod:`jobs.export`.
"""
