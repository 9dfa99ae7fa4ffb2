import { ConfigErrors, isSettingNotFound } from "../gen/config/v1/config.micro.js";

/** The value at a dotted path of the settings ("" for all of them); SETTING_NOT_FOUND when nothing is set there. */
export function settingsAt(settings: unknown, path: string): unknown {
  let value = settings;
  for (const key of path === "" ? [] : path.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) {
      throw ConfigErrors.settingNotFound(`nothing is set under "${path}"`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** As settingsAt, with null where nothing is set any more: what Watch sends when a change removes the path. */
export function settingsAtOrNull(settings: unknown, path: string): unknown {
  try {
    return settingsAt(settings, path);
  } catch (error) {
    if (isSettingNotFound(error)) return null;
    throw error;
  }
}
