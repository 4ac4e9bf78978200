"""Reader-app APIs: the Google Reader API (:mod:`.greader`) and the Fever API (:mod:`.fever`) over the
facade's ``nd.readers`` (:mod:`newsdesk.readers`: users, app passwords and per-user state, with the feed
model both APIs share in :mod:`newsdesk.readerfeeds`).
"""
