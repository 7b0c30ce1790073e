/** The state key under which an action's post step (src/actions/cleanup.ts) finds the temp folders to remove. */
export const TEMP_STATE = 'mlloop-temp-dirs';
