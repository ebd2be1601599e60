import { ErrorCodes, TaskqError } from '../errors.js';

/**
 * Imports an optional taskq package by name (broker and store adapters, reporters, metrics, the dashboard, the
 * SQL migrations): a package that is not installed is TASKQ_ADAPTER_MISSING naming the `npm install` to run; any
 * other import error is the package's own.
 */
export async function importOptional<T>(packageName: string, neededFor: string): Promise<T> {
  try {
    return (await import(packageName)) as T;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(packageName)) {
      throw new TaskqError(
        ErrorCodes.ADAPTER_MISSING,
        `${neededFor} needs the ${packageName} package: run \`npm install ${packageName}\`.`,
        { cause: error },
      );
    }
    throw error;
  }
}
