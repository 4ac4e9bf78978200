"""Reader-app APIs: the Google Reader API (:mod:`.greader`) and the Fever API (:mod:`.fever`) over the
users, app passwords and per-user state of :mod:`.users`, with the feed model both share in :mod:`.feeds`.

Importing this package loads no web framework: the facade imports :mod:`.users` from here.
"""
