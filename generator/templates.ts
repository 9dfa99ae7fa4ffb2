import ejs from "ejs";
import { SetupError } from "@tsmicro/runtime/errors";

/** Template texts by file name (`micro.ts.ejs`, `doc.ejs`, …): the shipped set with a user's overrides laid over it. */
export type TemplateSet = Readonly<Record<string, string>>;

/** Renders one template of the set; `include("doc", …)` resolves within the set, never on disk. */
export function renderTemplate(templates: TemplateSet, name: string, data: object): string {
  const text = templates[name];
  if (text === undefined) throw new SetupError("TSM_ERR_TEMPLATE", name, "no such template");
  try {
    return ejs.render(text, data, {
      filename: name,
      includer: (path: string) => {
        const included = templates[path.endsWith(".ejs") ? path : `${path}.ejs`];
        if (included === undefined) throw new Error(`include of unknown template ${path}`);
        return { template: included };
      },
      async: false,
    } as ejs.Options & { async: false });
  } catch (error) {
    throw new SetupError("TSM_ERR_TEMPLATE", name, error instanceof Error ? error.message : String(error));
  }
}
