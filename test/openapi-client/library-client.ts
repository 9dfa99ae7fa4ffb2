/**
 * Calling code a user would write against fixture 16's Library behind `tsmicro api`: openapi-fetch
 * over the types openapi-typescript made from the gateway's /openapi.json. The test writes those
 * types next to a copy of this file as `library-schema.ts` and type-checks both, so every path,
 * parameter, body and answer below must be what the document says; the `@ts-expect-error` lines
 * must stay errors, or the types have gone loose. Outside that check the file is left out of the
 * repository's tsconfig (the schema exists only while the test runs).
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./library-schema.js";

type Book = components["schemas"]["fixtures.gateway.v1.Book"];
/** One line of StreamBooks' NDJSON answer, as the document describes it. */
type StreamLine = paths["/v1/shelves/{shelf}/books:stream"]["get"]["responses"][200]["content"]["application/x-ndjson"];

/** Fills a path's parameters percent-encoded except "/", as google.api.http's clients expand a multi-segment variable. */
function slashesKept(path: string, params: Record<string, unknown>): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    String(params[name]).split("/").map(encodeURIComponent).join("/"),
  );
}

/** What one operation answered: its HTTP status and the typed data (or error) openapi-fetch parsed. */
export interface Answer {
  readonly status: number;
  readonly data: unknown;
}

/** Calls every operation of the Library's document once, each with parameters and a body of its own; answers by operationId. */
export async function callEveryOperation(baseUrl: string): Promise<Record<string, Answer>> {
  const client = createClient<paths>({ baseUrl });
  const answers: Record<string, Answer> = {};
  const keep = (id: string, { response, data, error }: { response: Response; data?: unknown; error?: unknown }) => {
    answers[id] = { status: response.status, data: data ?? error };
  };

  const ping = await client.GET("/v1/ping");
  const status: string | undefined = ping.data?.status;
  keep("Library_Ping", { ...ping, data: { status } });

  keep("Library_GetShelf", await client.GET("/v1/shelves/{shelf}", { params: { path: { shelf: "fiction" } } }));
  keep("Library_GetAuthor", await client.GET("/v1/authors/{author}", { params: { path: { author: "le guin" } } }));
  // Each segment of a multi-segment variable is a parameter of its own, so a "/" in one stays in it.
  keep(
    "Library_GetBook",
    await client.GET("/v1/shelves/{shelf}/books/{book}", { params: { path: { shelf: "fiction", book: "a/b" } } }),
  );
  keep("Library_GetBook_1", await client.GET("/v1/books/{name}", { params: { path: { name: "earthsea" } } }));
  // A `**` parameter's "/" separates segments: google.api.http has the client leave it unencoded
  // (the server keeps %2F as it is), which openapi-fetch does with a path serializer.
  keep(
    "Library_GetFile",
    await client.GET("/v1/files/{path}", { params: { path: { path: "docs/readme.md" } }, pathSerializer: slashesKept }),
  );
  keep(
    "Library_GetObject",
    await client.GET("/v1/buckets/{bucket}/objects/{object}", {
      params: { path: { bucket: "photos", object: "2024/cat.png" } },
      pathSerializer: slashesKept,
    }),
  );

  const listed = await client.GET("/v1/shelves/{shelf}/books", {
    params: {
      path: { shelf: "fiction" },
      query: { pageSize: 2, read: true, genre: "GENRE_FICTION", tags: ["old", "new"], "filter.author": "ursula" },
    },
  });
  const books: Book[] = listed.data?.books ?? [];
  keep("Library_ListBooks", { ...listed, data: { books, totalSize: listed.data?.totalSize } });
  keep(
    "Library_ListBooks_1",
    await client.POST("/v1/shelves/{shelf}/books:search", {
      params: { path: { shelf: "history" } },
      body: { pageSize: 1, filter: { minPages: 300 } },
    }),
  );
  keep(
    "Library_CreateBook",
    await client.POST("/v1/shelves/{shelf}/books", {
      params: { path: { shelf: "fiction" }, query: { requestId: "b7" } },
      body: { title: "The Dispossessed", pages: 387, genre: "GENRE_FICTION" },
    }),
  );
  keep(
    "Library_UpdateBook",
    await client.PATCH("/v1/shelves/{shelf}/books/{book}", {
      params: { path: { shelf: "fiction", book: "b7" }, query: { updateMask: "title" } },
      body: { title: "Anarres" },
    }),
  );
  keep(
    "Library_PublishBook",
    await client.POST("/v1/shelves/{shelf}/books/{book}:publish", {
      params: { path: { shelf: "fiction", book: "b7" } },
      body: { edition: "second", copies: 500 },
    }),
  );
  keep(
    "Library_DeleteBook",
    await client.DELETE("/v1/shelves/{shelf}/books/{book}", {
      params: { path: { shelf: "fiction", book: "b7" }, query: { force: true } },
    }),
  );
  // Refused by the service: the error is typed as the google.rpc.Status the document names.
  const refused = await client.DELETE("/v1/shelves/{shelf}/books/{book}", {
    params: { path: { shelf: "fiction", book: "b8" } },
  });
  const message: string | undefined = refused.error?.message;
  keep("Library_DeleteBook without force", { ...refused, error: { code: refused.error?.code, message } });
  keep(
    "Library_GetLatestBook",
    await client.GET("/v1/shelves/{shelf}/books:latest", { params: { path: { shelf: "fiction" } } }),
  );
  // A server stream answers NDJSON, one {"result": …} line per message, each typed by the document.
  const stream = await client.GET("/v1/shelves/{shelf}/books:stream", {
    params: { path: { shelf: "fiction" }, query: { count: 2 } },
    parseAs: "text",
  });
  const lines = (stream.data ?? "").split("\n").filter((line) => line !== "");
  const results = lines.map((line) => JSON.parse(line) as StreamLine);
  const titles: (string | undefined)[] = results.map((line) => line.result?.title);
  keep("Library_StreamBooks", { ...stream, data: results });
  keep("Library_StreamBooks titles", { ...stream, data: titles });
  keep("Library_HashKV", await client.POST("/v3/maintenance/hash", { body: { revision: "9007199254740993" } }));
  keep(
    "Library_Echo",
    await client.POST("/v1/echo", {
      body: { int64Value: "-42", genre: "GENRE_HISTORY", labels: { a: "1" }, book: { title: "T" }, wrappedBool: null },
    }),
  );
  keep("Library_Fail", await client.POST("/v1/fail", { body: { code: 5, message: "no such book" } }));
  return answers;
}

/** Calls the types must refuse; never run, only type-checked. */
export async function refusedByTheTypes(baseUrl: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });
  // @ts-expect-error a path parameter left out
  await client.GET("/v1/shelves/{shelf}", { params: { path: {} } });
  // @ts-expect-error a path the document does not have
  await client.GET("/v1/shelf/{shelf}", { params: { path: { shelf: "s" } } });
  // @ts-expect-error GET on a path served only by POST
  await client.GET("/v1/echo");
  // @ts-expect-error a genre the enum does not have
  await client.POST("/v1/shelves/{shelf}/books", { params: { path: { shelf: "s" } }, body: { genre: "GENRE_POETRY" } });
  const shelf = await client.GET("/v1/shelves/{shelf}", { params: { path: { shelf: "s" } } });
  // @ts-expect-error a Shelf has no title
  shelf.data?.title;
}
