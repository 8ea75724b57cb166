"""One rate limit shared by every process of a run: the ``Limiter`` protocol (:mod:`.base`), its
backends (:mod:`.backends`: in-process, or Redis GCRA in :mod:`.redis_gcra`), and the row caller
that passes every attempt through it (:mod:`.caller`)."""
