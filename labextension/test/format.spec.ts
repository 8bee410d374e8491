import { describe, expect, it } from 'vitest';

import {
  appPath,
  crashSummary,
  commitDisabledReason,
  defaultCommitMessage,
  firstLine,
  publishDisabledReason,
  relativeTime,
  shortSha,
  syncSummary
} from '../src/format';
import { IWorkspaceState } from '../src/tokens';

const NOW = Date.parse('2025-03-10T12:00:00Z');

function workspace(overrides: Partial<IWorkspaceState> = {}): IWorkspaceState {
  return {
    state: 'ready',
    error: null,
    repository: { name: 'imad-app', clone_url: 'file:///x', web_url: null },
    branch: 'main',
    head: null,
    changes: [],
    ahead: 0,
    behind: 0,
    app_url: 'http://alice.apps.localhost:8080/',
    app_dir: 'app',
    ...overrides
  };
}

describe('relativeTime', () => {
  it.each([
    ['2025-03-10T11:59:55Z', 'just now'],
    ['2025-03-10T11:59:00Z', '1 minute ago'],
    ['2025-03-10T11:55:00Z', '5 minutes ago'],
    ['2025-03-10T09:00:00Z', '3 hours ago'],
    ['2025-03-09T12:00:00Z', '1 day ago'],
    ['2025-02-10T12:00:00Z', '4 weeks ago'],
    ['2024-01-10T12:00:00Z', '1 year ago'],
    ['2025-03-10T12:02:00Z', 'in 2 minutes']
  ])('%s is %s', (iso, expected) => {
    expect(relativeTime(iso, NOW)).toBe(expected);
  });

  it('is empty for a missing or bad time', () => {
    expect(relativeTime(null, NOW)).toBe('');
    expect(relativeTime('yesterday', NOW)).toBe('');
  });
});

describe('defaultCommitMessage', () => {
  it('names the one changed file', () => {
    expect(
      defaultCommitMessage([{ path: 'public/index.html', status: 'modified' }])
    ).toBe('Update public/index.html');
    expect(defaultCommitMessage([{ path: 'a.js', status: 'added' }])).toBe(
      'Add a.js'
    );
    expect(defaultCommitMessage([{ path: 'b.js', status: 'deleted' }])).toBe(
      'Delete b.js'
    );
  });

  it('counts several files', () => {
    expect(
      defaultCommitMessage([
        { path: 'a', status: 'added' },
        { path: 'b', status: 'added' }
      ])
    ).toBe('Add 2 files');
    expect(
      defaultCommitMessage([
        { path: 'a', status: 'added' },
        { path: 'b', status: 'modified' },
        { path: 'c', status: 'deleted' }
      ])
    ).toBe('Update 3 files');
  });

  it('is empty with nothing changed', () => {
    expect(defaultCommitMessage([])).toBe('');
  });
});

describe('commitDisabledReason', () => {
  const changed = workspace({
    changes: [{ path: 'server.js', status: 'modified' }]
  });

  it('is null when there are changes and a message', () => {
    expect(commitDisabledReason(changed, 'Fix', null)).toBeNull();
  });

  it.each([
    ['nothing changed', workspace(), 'msg', null, /Nothing to commit/],
    ['no message', changed, '   ', null, /commit message/],
    ['too long', changed, 'x'.repeat(4097), null, /too long/],
    ['busy', changed, 'msg', 'publishing' as const, /Publishing/],
    ['loading', null, 'msg', null, /Loading/],
    ['cloning', workspace({ state: 'cloning' }), 'msg', null, /being prepared/],
    [
      'error',
      workspace({ state: 'error', error: 'clone failed: boom' }),
      'msg',
      null,
      /boom/
    ]
  ])('explains %s', (_name, ws, message, busy, reason) => {
    expect(commitDisabledReason(ws, message, busy)).toMatch(reason);
  });
});

describe('publishDisabledReason', () => {
  it('allows publishing the last commit with no changes and no message', () => {
    expect(publishDisabledReason(workspace(), '', null)).toBeNull();
  });

  it('needs a message when there are changes to commit first', () => {
    const ws = workspace({
      changes: [{ path: 'server.js', status: 'modified' }]
    });
    expect(publishDisabledReason(ws, '', null)).toMatch(/commit message/);
    expect(publishDisabledReason(ws, 'Update server.js', null)).toBeNull();
  });

  it('is blocked while another action runs', () => {
    expect(publishDisabledReason(workspace(), '', 'committing')).toMatch(
      /Committing/
    );
  });
});

describe('small helpers', () => {
  it('joins the app folder and a path', () => {
    expect(appPath('app', 'public/index.html')).toBe('app/public/index.html');
    expect(appPath('/app/', '/server.js')).toBe('app/server.js');
    expect(appPath('', 'server.js')).toBe('server.js');
  });

  it('shortens shas and messages', () => {
    expect(shortSha('0123456789abcdef')).toBe('0123456');
    expect(shortSha(null)).toBe('');
    expect(firstLine('Title\n\nbody')).toBe('Title');
  });

  it('summarizes ahead and behind', () => {
    expect(syncSummary(0, 0)).toBe('');
    expect(syncSummary(1, 0)).toBe('1 commit not pushed');
    expect(syncSummary(2, 3)).toBe('2 commits not pushed, 3 commits behind');
  });
});

describe('crashSummary', () => {
  it("finds the line naming a Node.js app's error", () => {
    const logs = [
      '/home/alice/app/server.js:4',
      'this is not javascript(',
      '     ^^',
      '',
      "SyntaxError: Unexpected identifier 'is'",
      '    at internalCompileFunction (node:internal/vm:76:18)',
      'Node.js v20.20.2'
    ];
    expect(crashSummary(logs)).toBe("SyntaxError: Unexpected identifier 'is'");
  });

  it('handles errors without a message and logs without errors', () => {
    expect(crashSummary(['TypeError'])).toBe('TypeError');
    expect(crashSummary(['Your app is listening on port 8080'])).toBeNull();
    expect(crashSummary([])).toBeNull();
  });
});
