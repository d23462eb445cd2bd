"""Integration clients: the machine clients of the OAuth 2.0 client-credentials grant (ERP,
procurement, WMS). The customers service keeps them, as the owner of the shop's accounts with a
database; the gateway issues their tokens and asks here who a client is."""
