"""The notifications service: e-mails from order events, sent over SMTP with retries."""
