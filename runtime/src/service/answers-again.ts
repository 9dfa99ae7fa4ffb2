import { channel } from "node:diagnostics_channel";

/**
 * Where a component says that a service it calls answers again after an outage it logged (the
 * database's pool: `postgres`), so that the failed-call log (ServedFailureLog), which counts an
 * outage's failures rather than logging each, logs the next one, another outage's, in full. A
 * diagnostics channel: the database, opened in main.ts, knows no service.
 */
const answersAgain = channel("tsmicro:answers-again");

/** Says that `service` (the name a failure names as failedService) answers again. */
export function sayAnswersAgain(service: string): void {
  if (answersAgain.hasSubscribers) answersAgain.publish(service);
}

/** Calls `listener` with each service said to answer again, until the returned function is called. */
export function onAnswersAgain(listener: (service: string) => void): () => void {
  const onMessage = (service: unknown) => {
    if (typeof service === "string") listener(service);
  };
  answersAgain.subscribe(onMessage);
  return () => answersAgain.unsubscribe(onMessage);
}
