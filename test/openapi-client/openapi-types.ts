/**
 * openapi-typescript's Node API, loaded from this workspace so that it finds its own TypeScript 5
 * (it builds the types with TypeScript's JS API, which the repository's TypeScript 7 does not have).
 */
import openapiTS, { astToString, type OpenAPI3 } from "openapi-typescript";

/** The TypeScript module openapi-typescript writes for an OpenAPI document (`paths`, `components`, `operations`). */
export async function typesOf(document: OpenAPI3): Promise<string> {
  const ast = await openapiTS(document, { silent: true });
  return astToString(ast);
}

/** An OpenAPI 3 document as openapi-typescript reads it. */
export type { OpenAPI3 };
