import type { PublisherOf } from "@tsmicro/runtime";
import type { UserRecordDataService } from "../domain/service/user-record-data-service.js";
import type { UserEvents } from "../gen/user/v1/user.micro.js";

/** What the handlers use; src/main.ts builds it. Add what new handlers need here. */
export interface Dependencies {
  readonly users: UserRecordDataService;
  readonly events: PublisherOf<typeof UserEvents>;
}
