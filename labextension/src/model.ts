/**
 * The panel's state and actions, with no DOM in it: `WorkspaceModel` keeps the
 * workspace and app state fresh (polling faster while the app starts or has
 * just crashed), runs Commit, Publish and Unpublish one at a time, and reports
 * their outcome through an `INotifier` (JupyterLab notifications in the lab,
 * a fake in tests).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { WorkspaceAPIError } from './handler';
import {
  commitDisabledReason,
  defaultCommitMessage,
  publishDisabledReason,
  shortSha
} from './format';
import {
  BusyAction,
  CHANGES_DEBOUNCE_MS,
  FAST_POLL_MS,
  IAppState,
  IWorkspaceClient,
  IWorkspaceState,
  SLOW_POLL_MS
} from './tokens';

/** An action offered with a notification (e.g. "Open" the live app). */
export interface INotifyAction {
  label: string;
  callback: () => void;
}

/** Where the model reports outcomes for the student. */
export interface INotifier {
  success(message: string, actions?: INotifyAction[]): void;
  info(message: string, actions?: INotifyAction[]): void;
  error(message: string, actions?: INotifyAction[]): void;
}

/** Options of `WorkspaceModel`. */
export interface IWorkspaceModelOptions {
  client: IWorkspaceClient;
  notifier: INotifier;
  /** Opens a URL in a new browser tab (window.open in the lab). */
  openURL?: (url: string) => void;
  /** Milliseconds between fast / slow polls (tests shorten them). */
  fastPollMs?: number;
  slowPollMs?: number;
  /** How long to keep polling fast after the app crashed. */
  crashWatchMs?: number;
}

/** Turn anything thrown into a sentence for the student (never a traceback). */
export function errorMessage(error: unknown): string {
  if (error instanceof WorkspaceAPIError) {
    return error.message;
  }
  return 'Something went wrong in the IMAD panel. Reload the page and try again.';
}

/** What the model reads periodically. */
type ReadSource = 'workspace' | 'app';

export class WorkspaceModel {
  constructor(options: IWorkspaceModelOptions) {
    this._client = options.client;
    this._notifier = options.notifier;
    this._openURL = options.openURL ?? (() => undefined);
    this._fastPollMs = options.fastPollMs ?? FAST_POLL_MS;
    this._slowPollMs = options.slowPollMs ?? SLOW_POLL_MS;
    this._crashWatchMs = options.crashWatchMs ?? 30000;
  }

  /** Emitted whenever anything the panel shows changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get workspace(): IWorkspaceState | null {
    return this._workspace;
  }

  get app(): IAppState | null {
    return this._app;
  }

  get busy(): BusyAction {
    return this._busy;
  }

  /** What a running Publish is doing, for the progress line. */
  get progress(): string | null {
    return this._progress;
  }

  /**
   * Why the panel's information may be stale: the last failure to read the
   * workspace or the app (null when both reads succeed).
   */
  get connectionError(): string | null {
    const errors = [...this._readErrors.values()];
    return errors.length > 0 ? errors[0].message : null;
  }

  /**
   * The commit message: what the student typed, or a default describing the
   * changes until they type.
   */
  get message(): string {
    if (this._messageEdited) {
      return this._message;
    }
    return defaultCommitMessage(this._workspace?.changes ?? []);
  }

  set message(value: string) {
    this._message = value;
    this._messageEdited = true;
    this._changed.emit();
  }

  get commitDisabledReason(): string | null {
    return commitDisabledReason(this._workspace, this.message, this._busy);
  }

  get publishDisabledReason(): string | null {
    return publishDisabledReason(this._workspace, this.message, this._busy);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Load everything once and keep polling until disposed. */
  async start(): Promise<void> {
    await this.refresh();
    this._scheduleWorkspacePoll();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    clearTimeout(this._appTimer);
    clearTimeout(this._workspaceTimer);
    clearTimeout(this._changesTimer);
    Signal.clearData(this);
  }

  /** Reload the workspace and the app state. */
  async refresh(): Promise<void> {
    await Promise.all([this.refreshWorkspace(), this.refreshApp()]);
  }

  /** Reload the workspace state (branch, last commit, changes). */
  async refreshWorkspace(): Promise<void> {
    try {
      this._workspace = await this._client.getWorkspace();
      this._readOK('workspace');
    } catch (error) {
      this._readFailed('workspace', error);
    }
    this._changed.emit();
  }

  /** Reload the app state and schedule the next poll. */
  async refreshApp(): Promise<void> {
    try {
      this._setApp(await this._client.getApp());
      this._readOK('app');
    } catch (error) {
      this._readFailed('app', error);
    }
    this._changed.emit();
    this._scheduleAppPoll();
  }

  /** List changes again soon (called when a file is saved, created or deleted). */
  filesChanged(): void {
    clearTimeout(this._changesTimer);
    this._changesTimer = setTimeout(() => {
      void this.refreshWorkspace();
    }, CHANGES_DEBOUNCE_MS);
  }

  /** Commit the changes with the current message and push them. */
  async commit(): Promise<boolean> {
    const reason = this.commitDisabledReason;
    if (reason) {
      this._notifier.info(reason);
      return false;
    }
    const message = this.message.trim();
    this._setBusy('committing', 'Committing and pushing…');
    try {
      const result = await this._client.commit(message);
      if (result.nothing_to_commit) {
        this._notifier.info(result.message || 'Nothing to commit.');
      } else {
        this._resetMessage();
        this._notifier.success(
          `Committed ${result.short || shortSha(result.commit)} and pushed it to your repository.`
        );
      }
      return !result.nothing_to_commit;
    } catch (error) {
      this._writeFailed('Commit', error);
      return false;
    } finally {
      this._setBusy(null, null);
      await this.refreshWorkspace();
    }
  }

  /** Commit pending changes (with the current message), push, and publish. */
  async publish(): Promise<boolean> {
    const reason = this.publishDisabledReason;
    if (reason) {
      this._notifier.info(reason);
      return false;
    }
    const hasChanges = (this._workspace?.changes.length ?? 0) > 0;
    const message = hasChanges ? this.message.trim() : undefined;
    this._setBusy(
      'publishing',
      hasChanges
        ? 'Committing, pushing and starting your app…'
        : 'Pushing and starting your app…'
    );
    try {
      const result = await this._client.publish(message);
      if (hasChanges) {
        this._resetMessage();
      }
      this._setApp({
        ...(this._app ?? {}),
        status: result.status,
        url: result.url,
        commit: result.commit,
        logs: result.logs
      });
      this._announce();
      return result.status !== 'crashed';
    } catch (error) {
      this._writeFailed('Publish', error);
      return false;
    } finally {
      this._setBusy(null, null);
      await this.refreshWorkspace();
      this._scheduleAppPoll();
    }
  }

  /** Stop the published app (the caller asks for confirmation first). */
  async unpublish(): Promise<boolean> {
    const blocked = this._busy
      ? 'Wait until the current action finishes.'
      : null;
    if (blocked) {
      this._notifier.info(blocked);
      return false;
    }
    this._setBusy('unpublishing', 'Stopping your app…');
    try {
      this._setApp(await this._client.unpublish());
      this._notifier.success('Your app is unpublished.');
      return true;
    } catch (error) {
      this._writeFailed('Unpublish', error);
      return false;
    } finally {
      this._setBusy(null, null);
      this._scheduleAppPoll();
    }
  }

  /** Open the live app in a new tab, when there is one. */
  openLiveApp(): boolean {
    const url = this._app?.url || this._workspace?.app_url;
    if (!url || this._app?.status === 'unpublished') {
      this._notifier.info(
        'Your app is not published yet. Press Publish first.'
      );
      return false;
    }
    this._openURL(url);
    return true;
  }

  private _announce(): void {
    const app = this._app;
    if (!app) {
      return;
    }
    const open = app.url
      ? [{ label: 'Open', callback: () => this._openURL(app.url) }]
      : [];
    switch (app.status) {
      case 'live':
        this._notifier.success(`Your app is live at ${app.url}`, open);
        break;
      case 'starting':
        this._notifier.info(
          'Your app is starting; the IMAD panel shows its logs.'
        );
        break;
      case 'crashed':
        this._notifier.error(
          'Your app crashed while starting. Read its logs in the IMAD panel, fix the error, commit and publish again.'
        );
        break;
      default:
        break;
    }
  }

  private _setApp(app: IAppState): void {
    const before = this._app?.status;
    this._app = app;
    if (app.status === 'crashed' && before !== 'crashed') {
      this._crashedAt = Date.now();
    }
    // A publish the server answered while still starting: tell the student
    // when the app settles (publish() announces its own answer).
    const settled = app.status === 'live' || app.status === 'crashed';
    if (
      this._watchingStart &&
      settled &&
      this._busy === null &&
      before === 'starting'
    ) {
      this._announce();
    }
    this._watchingStart = app.status === 'starting';
  }

  private _setBusy(busy: BusyAction, progress: string | null): void {
    this._busy = busy;
    this._progress = progress;
    this._changed.emit();
  }

  private _resetMessage(): void {
    this._message = '';
    this._messageEdited = false;
  }

  private _writeFailed(action: string, error: unknown): void {
    const message = errorMessage(error);
    if (error instanceof WorkspaceAPIError && error.unreachable) {
      // The refreshes that follow fail the same way: say it once.
      this._readErrors.set('workspace', { message, unreachable: true });
      this._readErrors.set('app', { message, unreachable: true });
    }
    this._notifier.error(`${action} failed: ${message}`);
  }

  private _readOK(source: ReadSource): void {
    const previous = this._readErrors.get(source);
    if (!previous) {
      return;
    }
    this._readErrors.delete(source);
    const stillDown = [...this._readErrors.values()].some(e => e.unreachable);
    if (previous.unreachable && !stillDown) {
      this._notifier.info('Reconnected to your workspace server.');
    }
  }

  private _readFailed(source: ReadSource, error: unknown): void {
    const message = errorMessage(error);
    const unreachable = error instanceof WorkspaceAPIError && error.unreachable;
    // Notify once per outage, not at every poll, and once for both sources.
    const known = [...this._readErrors.values()].some(
      e => e.message === message
    );
    this._readErrors.set(source, { message, unreachable });
    if (!known) {
      this._notifier.error(message);
    }
  }

  private _appPollDelay(): number {
    const app = this._app;
    if ([...this._readErrors.values()].some(e => e.unreachable)) {
      return this._slowPollMs;
    }
    if (app?.status === 'starting') {
      return this._fastPollMs;
    }
    if (
      app?.status === 'crashed' &&
      Date.now() - this._crashedAt < this._crashWatchMs
    ) {
      return this._fastPollMs;
    }
    return this._slowPollMs;
  }

  private _scheduleAppPoll(): void {
    if (this._disposed) {
      return;
    }
    clearTimeout(this._appTimer);
    this._appTimer = setTimeout(() => {
      if (this._busy === 'publishing' || this._busy === 'unpublishing') {
        this._scheduleAppPoll();
        return;
      }
      void this.refreshApp();
    }, this._appPollDelay());
  }

  private _scheduleWorkspacePoll(): void {
    if (this._disposed) {
      return;
    }
    clearTimeout(this._workspaceTimer);
    this._workspaceTimer = setTimeout(async () => {
      await this.refreshWorkspace();
      this._scheduleWorkspacePoll();
    }, this._slowPollMs);
  }

  private readonly _client: IWorkspaceClient;
  private readonly _notifier: INotifier;
  private readonly _openURL: (url: string) => void;
  private readonly _fastPollMs: number;
  private readonly _slowPollMs: number;
  private readonly _crashWatchMs: number;
  private readonly _changed = new Signal<this, void>(this);
  private _workspace: IWorkspaceState | null = null;
  private _app: IAppState | null = null;
  private _busy: BusyAction = null;
  private _progress: string | null = null;
  private _readErrors = new Map<
    ReadSource,
    { message: string; unreachable: boolean }
  >();
  private _message = '';
  private _messageEdited = false;
  private _crashedAt = 0;
  private _watchingStart = false;
  private _disposed = false;
  private _appTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _workspaceTimer: ReturnType<typeof setTimeout> | undefined =
    undefined;
  private _changesTimer: ReturnType<typeof setTimeout> | undefined = undefined;
}
