CREATE TABLE "revoked_token" (
  "id" text PRIMARY KEY,
  "expires_at" timestamptz,
  "created_time" timestamptz
);
