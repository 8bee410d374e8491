/**
 * Pure helpers the panel renders with: relative times, the default commit
 * message, why Commit or Publish is disabled, labels for statuses.
 *
 * Nothing here touches the DOM or the network, so it is unit-tested directly.
 */
import {
  AppStatus,
  BusyAction,
  ChangeStatus,
  IChange,
  IWorkspaceState,
  MAX_MESSAGE_LENGTH
} from './tokens';

const UNITS: [number, string][] = [
  [60, 'second'],
  [60, 'minute'],
  [24, 'hour'],
  [7, 'day'],
  [4.35, 'week'],
  [12, 'month'],
  [Number.POSITIVE_INFINITY, 'year']
];

/** "just now", "5 minutes ago", "2 days ago" (or "in 1 minute" for clock skew). */
export function relativeTime(
  iso: string | null | undefined,
  now: number = Date.now()
): string {
  if (!iso) {
    return '';
  }
  const then = Date.parse(iso);
  if (Number.isNaN(then)) {
    return '';
  }
  let amount = (now - then) / 1000;
  const future = amount < 0;
  amount = Math.abs(amount);
  if (amount < 10) {
    return 'just now';
  }
  for (const [size, unit] of UNITS) {
    if (amount < size) {
      const n = Math.floor(amount);
      const label = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return future ? `in ${label}` : `${label} ago`;
    }
    amount /= size;
  }
  return '';
}

/** The first line of a commit message. */
export function firstLine(message: string | null | undefined): string {
  return (message ?? '').split('\n', 1)[0].trim();
}

/** A commit message describing the changes, for the student to keep or edit. */
export function defaultCommitMessage(changes: IChange[]): string {
  if (changes.length === 0) {
    return '';
  }
  if (changes.length === 1) {
    const [change] = changes;
    return `${VERBS[change.status]} ${change.path}`;
  }
  const statuses = new Set(changes.map(c => c.status));
  const verb = statuses.size === 1 ? VERBS[changes[0].status] : 'Update';
  return `${verb} ${changes.length} files`;
}

const VERBS: Record<ChangeStatus, string> = {
  modified: 'Update',
  added: 'Add',
  deleted: 'Delete',
  renamed: 'Rename'
};

/** One letter per change status, as git shows it. */
export const STATUS_LETTERS: Record<ChangeStatus, string> = {
  modified: 'M',
  added: 'A',
  deleted: 'D',
  renamed: 'R'
};

const BUSY_REASONS: Record<Exclude<BusyAction, null>, string> = {
  committing: 'Committing…',
  publishing: 'Publishing…',
  unpublishing: 'Unpublishing…'
};

/** Why the workspace cannot take a write now, or null when it can. */
export function workspaceBlockedReason(
  workspace: IWorkspaceState | null,
  busy: BusyAction
): string | null {
  if (busy) {
    return BUSY_REASONS[busy];
  }
  if (!workspace) {
    return 'Loading your workspace…';
  }
  if (workspace.state === 'cloning') {
    return 'Your workspace is still being prepared.';
  }
  if (workspace.state === 'error') {
    return workspace.error || 'Your workspace could not be prepared.';
  }
  return null;
}

/** Why Commit is disabled, or null when it is enabled. */
export function commitDisabledReason(
  workspace: IWorkspaceState | null,
  message: string,
  busy: BusyAction
): string | null {
  const blocked = workspaceBlockedReason(workspace, busy);
  if (blocked) {
    return blocked;
  }
  if (!workspace || workspace.changes.length === 0) {
    return 'Nothing to commit: no file has changed since the last commit.';
  }
  if (!message.trim()) {
    return 'Write a commit message first.';
  }
  if (message.length > MAX_MESSAGE_LENGTH) {
    return `The commit message is too long (at most ${MAX_MESSAGE_LENGTH} characters).`;
  }
  return null;
}

/** Why Publish is disabled, or null when it is enabled. */
export function publishDisabledReason(
  workspace: IWorkspaceState | null,
  message: string,
  busy: BusyAction
): string | null {
  const blocked = workspaceBlockedReason(workspace, busy);
  if (blocked) {
    return blocked;
  }
  if (workspace && workspace.changes.length > 0 && !message.trim()) {
    return 'Write a commit message for your changes first.';
  }
  if (message.length > MAX_MESSAGE_LENGTH) {
    return `The commit message is too long (at most ${MAX_MESSAGE_LENGTH} characters).`;
  }
  return null;
}

/** Words shown in the status badge. */
export const STATUS_LABELS: Record<AppStatus, string> = {
  unpublished: 'unpublished',
  starting: 'starting',
  live: 'live',
  crashed: 'crashed'
};

/** A sentence for screen readers and tooltips about the app's status. */
export function statusDescription(status: AppStatus): string {
  switch (status) {
    case 'unpublished':
      return 'Your app is not published yet. Press Publish to put it live.';
    case 'starting':
      return 'Your app is starting…';
    case 'live':
      return 'Your app is live.';
    case 'crashed':
      return 'Your app crashed. Read the logs below, fix the error, and publish again.';
  }
}

/** The short form of a sha (7 characters, as git shows it). */
export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : '';
}

/** Join the app folder and a path inside it as a server (contents) path. */
export function appPath(appDir: string, path: string): string {
  const dir = appDir.replace(/^\/+|\/+$/g, '');
  const file = path.replace(/^\/+/, '');
  return dir ? `${dir}/${file}` : file;
}

/** A summary of commits not yet pushed or pulled, or '' when in sync. */
export function syncSummary(ahead: number, behind: number): string {
  const parts: string[] = [];
  if (ahead > 0) {
    parts.push(`${ahead} commit${ahead === 1 ? '' : 's'} not pushed`);
  }
  if (behind > 0) {
    parts.push(`${behind} commit${behind === 1 ? '' : 's'} behind`);
  }
  return parts.join(', ');
}

/**
 * The line of a crashed app's logs that names its error (e.g. "SyntaxError:
 * Unexpected identifier 'is'"), or null when none does.
 */
export function crashSummary(logs: string[]): string | null {
  const pattern =
    /^\s*(?:Uncaught\s+)?([A-Z]\w*(?:Error|Exception))(?::\s*(.*))?$/;
  for (const line of logs) {
    const match = pattern.exec(line);
    if (match) {
      return match[2] ? `${match[1]}: ${match[2].trim()}` : match[1];
    }
  }
  return null;
}
