import { afterEach, describe, expect, it, vi } from 'vitest';

import { WorkspaceAPIError } from '../src/handler';
import { INotifier, WorkspaceModel } from '../src/model';
import {
  IAppState,
  ICommitResult,
  IPublishResult,
  IWorkspaceClient,
  IWorkspaceState
} from '../src/tokens';

const SHA = 'a'.repeat(40);

function workspaceState(
  changes: IWorkspaceState['changes'] = []
): IWorkspaceState {
  return {
    state: 'ready',
    error: null,
    repository: {
      name: 'imad-app',
      clone_url: 'file:///repos/alice/imad-app.git',
      web_url: null
    },
    branch: 'main',
    head: {
      sha: SHA,
      short: 'aaaaaaa',
      message: 'Start',
      author: 'alice',
      time: '2025-01-01T00:00:00Z'
    },
    changes,
    ahead: 0,
    behind: 0,
    app_url: 'http://alice.apps.localhost:8080/',
    app_dir: 'app'
  };
}

/** An in-memory workspace API: a working copy with changes and an app. */
class FakeClient implements IWorkspaceClient {
  workspace = workspaceState([
    { path: 'public/index.html', status: 'modified' }
  ]);
  app: IAppState = {
    status: 'unpublished',
    url: 'http://alice.apps.localhost:8080/',
    commit: null,
    logs: []
  };
  commits: string[] = [];
  publishes: (string | undefined)[] = [];
  /** Status publish answers with, and the statuses later polls see. */
  publishStatus: IAppState['status'] = 'live';
  afterPublish: IAppState['status'][] = [];
  failWith: Error | null = null;

  async getWorkspace(): Promise<IWorkspaceState> {
    this.maybeFail();
    return structuredClone(this.workspace);
  }

  async commit(message: string): Promise<ICommitResult> {
    this.maybeFail();
    if (this.workspace.changes.length === 0) {
      return {
        commit: null,
        nothing_to_commit: true,
        message: 'Nothing to commit: clean.'
      };
    }
    this.commits.push(message);
    this.workspace.changes = [];
    return { commit: SHA, short: 'aaaaaaa', pushed: true };
  }

  async publish(message?: string): Promise<IPublishResult> {
    this.maybeFail();
    this.publishes.push(message);
    if (message !== undefined) {
      this.workspace.changes = [];
    }
    this.app = {
      status: this.publishStatus,
      url: this.app.url,
      commit: SHA,
      logs: ['started']
    };
    return { ...this.app };
  }

  async getApp(): Promise<IAppState> {
    this.maybeFail();
    const next = this.afterPublish.shift();
    if (next) {
      this.app = {
        ...this.app,
        status: next,
        logs: [...this.app.logs, `now ${next}`]
      };
    }
    return structuredClone(this.app);
  }

  async unpublish(): Promise<IAppState> {
    this.maybeFail();
    this.app = {
      status: 'unpublished',
      url: this.app.url,
      commit: null,
      logs: []
    };
    return { ...this.app };
  }

  private maybeFail(): void {
    if (this.failWith) {
      throw this.failWith;
    }
  }
}

class RecordingNotifier implements INotifier {
  messages: [string, string][] = [];
  success(message: string): void {
    this.messages.push(['success', message]);
  }
  info(message: string): void {
    this.messages.push(['info', message]);
  }
  error(message: string): void {
    this.messages.push(['error', message]);
  }
}

function setup(client = new FakeClient()) {
  const notifier = new RecordingNotifier();
  const opened: string[] = [];
  const model = new WorkspaceModel({
    client,
    notifier,
    openURL: url => opened.push(url),
    fastPollMs: 10,
    slowPollMs: 100000
  });
  return { client, notifier, model, opened };
}

let models: WorkspaceModel[] = [];
afterEach(() => {
  models.forEach(m => m.dispose());
  models = [];
});

async function started(client?: FakeClient) {
  const s = setup(client);
  models.push(s.model);
  await s.model.refresh();
  return s;
}

describe('WorkspaceModel', () => {
  it('proposes a default commit message the student can edit', async () => {
    const { model } = await started();
    expect(model.message).toBe('Update public/index.html');
    expect(model.commitDisabledReason).toBeNull();
    model.message = 'My own words';
    expect(model.message).toBe('My own words');
    model.message = '';
    expect(model.commitDisabledReason).toMatch(/commit message/);
  });

  it('commits with the message, then lists no changes', async () => {
    const { model, client, notifier } = await started();
    model.message = 'Say hello';
    expect(await model.commit()).toBe(true);
    expect(client.commits).toEqual(['Say hello']);
    expect(model.workspace?.changes).toEqual([]);
    expect(model.commitDisabledReason).toMatch(/Nothing to commit/);
    expect(notifier.messages.at(-1)?.[0]).toBe('success');
    expect(model.busy).toBeNull();
  });

  it('does not call the server when Commit is disabled, and says why', async () => {
    const client = new FakeClient();
    client.workspace.changes = [];
    const { model, notifier } = await started(client);
    expect(await model.commit()).toBe(false);
    expect(client.commits).toEqual([]);
    expect(notifier.messages).toEqual([
      ['info', expect.stringMatching(/Nothing to commit/)]
    ]);
  });

  it('publishes pending changes with the default message', async () => {
    const { model, client, notifier } = await started();
    expect(await model.publish()).toBe(true);
    expect(client.publishes).toEqual(['Update public/index.html']);
    expect(model.app?.status).toBe('live');
    expect(model.app?.commit).toBe(SHA);
    expect(notifier.messages.at(-1)).toEqual([
      'success',
      'Your app is live at http://alice.apps.localhost:8080/'
    ]);
  });

  it('publishes the last commit without a message when nothing changed', async () => {
    const client = new FakeClient();
    client.workspace.changes = [];
    const { model } = await started(client);
    await model.publish();
    expect(client.publishes).toEqual([undefined]);
  });

  it('shows progress while publishing', async () => {
    const { model } = await started();
    const seen: (string | null)[] = [];
    model.changed.connect(() => seen.push(model.progress));
    await model.publish();
    expect(seen).toContain('Committing, pushing and starting your app…');
    expect(model.progress).toBeNull();
  });

  it('polls while the app starts and announces when it crashes', async () => {
    const client = new FakeClient();
    client.publishStatus = 'starting';
    client.afterPublish = ['starting', 'crashed'];
    const { model, notifier } = await started(client);
    await model.publish();
    expect(model.app?.status).toBe('starting');
    await vi.waitFor(() => expect(model.app?.status).toBe('crashed'), {
      timeout: 2000
    });
    expect(model.app?.logs).toContain('now crashed');
    expect(notifier.messages.at(-1)?.[0]).toBe('error');
    expect(notifier.messages.at(-1)?.[1]).toMatch(/crashed/);
  });

  it('reports a rejected push as an error the student can act on', async () => {
    const { model, client, notifier } = await started();
    client.failWith = new WorkspaceAPIError(
      'Push rejected: your repository has commits this workspace does not have.',
      409,
      'push_rejected'
    );
    expect(await model.publish()).toBe(false);
    expect(notifier.messages).toContainEqual([
      'error',
      'Publish failed: Push rejected: your repository has commits this workspace does not have.'
    ]);
    expect(model.busy).toBeNull();
  });

  it('says once that the server is unreachable after a failed write', async () => {
    const { model, client, notifier } = await started();
    client.failWith = new WorkspaceAPIError(
      'Cannot reach your workspace server.',
      0,
      'unreachable'
    );
    await model.commit();
    expect(notifier.messages.filter(m => m[0] === 'error')).toEqual([
      ['error', 'Commit failed: Cannot reach your workspace server.']
    ]);
  });

  it('never shows a programming error as such', async () => {
    const { model, client, notifier } = await started();
    client.failWith = new TypeError(
      "Cannot read properties of undefined (reading 'x')"
    );
    await model.commit();
    expect(notifier.messages.at(-1)?.[1]).not.toMatch(/undefined/);
  });

  it('notifies once while the server is unreachable, and again when it is back', async () => {
    const { model, client, notifier } = await started();
    client.failWith = new WorkspaceAPIError(
      'Cannot reach your workspace server.',
      0,
      'unreachable'
    );
    await model.refresh();
    await model.refresh();
    expect(model.connectionError).toMatch(/Cannot reach/);
    expect(notifier.messages.filter(m => m[0] === 'error')).toHaveLength(1);
    client.failWith = null;
    await model.refresh();
    expect(model.connectionError).toBeNull();
    expect(notifier.messages.at(-1)?.[1]).toMatch(/Reconnected/);
  });

  it('reports a failing app status once, without a false "Reconnected"', async () => {
    const client = new FakeClient();
    const failing = new WorkspaceAPIError(
      'The classroom service could not be reached.',
      502,
      'upstream_error'
    );
    client.getApp = async () => {
      throw failing;
    };
    const { model, notifier } = await started(client);
    await model.refresh();
    await model.refreshWorkspace();
    expect(notifier.messages).toEqual([
      ['error', 'The classroom service could not be reached.']
    ]);
    expect(model.connectionError).toBe(
      'The classroom service could not be reached.'
    );
  });

  it('unpublishes and opens the live app only when published', async () => {
    const { model, opened, notifier } = await started();
    expect(model.openLiveApp()).toBe(false);
    expect(notifier.messages.at(-1)?.[1]).toMatch(/not published/);
    await model.publish();
    expect(model.openLiveApp()).toBe(true);
    expect(opened).toEqual(['http://alice.apps.localhost:8080/']);
    expect(await model.unpublish()).toBe(true);
    expect(model.app?.status).toBe('unpublished');
  });

  it('lists changes again shortly after a file is saved', async () => {
    const { model, client } = await started();
    client.workspace.changes = [
      { path: 'public/index.html', status: 'modified' },
      { path: 'public/new.js', status: 'added' }
    ];
    model.filesChanged();
    model.filesChanged();
    await vi.waitFor(() => expect(model.workspace?.changes).toHaveLength(2), {
      timeout: 2000
    });
    expect(model.message).toBe('Update 2 files');
  });
});
