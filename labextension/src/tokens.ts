/**
 * Constants and interfaces shared by the IMAD lab extension.
 *
 * The interfaces mirror the workspace REST API (docs/api.md): the panel only
 * reads what the student's Jupyter server answers under `<base_url>imad/api/`.
 */

/** The extension's plugin id (also the npm package name). */
export const PLUGIN_ID = 'imad-classroom:plugin';

/** URL namespace of the workspace API, the same as the server's route table. */
export const NAMESPACE = 'imad/api';

/** Id of the IMAD panel in the left sidebar. */
export const PANEL_ID = 'imad-classroom-panel';

/** Command ids (shown in the command palette under the IMAD category). */
export namespace CommandIDs {
  export const commit = 'imad:commit';
  export const publish = 'imad:publish';
  export const openLiveApp = 'imad:open-live-app';
  export const unpublish = 'imad:unpublish';
  export const refresh = 'imad:refresh';
  export const showPanel = 'imad:show-panel';
}

/** Category of the commands in the palette. */
export const COMMAND_CATEGORY = 'IMAD';

/** Milliseconds between app status polls while it starts or after it crashed. */
export const FAST_POLL_MS = 1500;

/** Milliseconds between polls otherwise (live, unpublished, workspace). */
export const SLOW_POLL_MS = 15000;

/** Milliseconds to wait after a file is saved before listing changes again. */
export const CHANGES_DEBOUNCE_MS = 300;

/** Longest commit message the server accepts. */
export const MAX_MESSAGE_LENGTH = 4096;

/** File opened at start when the app's package.json names no `main`. */
export const DEFAULT_MAIN_FILE = 'server.js';

/** Status of a changed file in the working copy. */
export type ChangeStatus = 'modified' | 'added' | 'deleted' | 'renamed';

/** Status of the student's published app. */
export type AppStatus = 'unpublished' | 'starting' | 'live' | 'crashed';

/** State of the workspace's working copy. */
export type WorkspaceReadiness = 'ready' | 'cloning' | 'error';

/** The student's repository. */
export interface IRepository {
  name: string;
  clone_url: string;
  /** A web page for the repository, when the host has one. */
  web_url: string | null;
}

/** A commit as the workspace API describes it. */
export interface ICommitInfo {
  sha: string;
  short: string;
  message: string;
  author: string;
  /** ISO 8601 time of the commit. */
  time: string;
}

/** One changed file, its path relative to the app folder. */
export interface IChange {
  path: string;
  status: ChangeStatus;
}

/** `GET workspace`. */
export interface IWorkspaceState {
  state: WorkspaceReadiness;
  error: string | null;
  repository: IRepository | null;
  branch: string | null;
  head: ICommitInfo | null;
  changes: IChange[];
  ahead: number;
  behind: number;
  app_url: string;
  /** The app folder, relative to the Jupyter server's root. */
  app_dir: string;
}

/** `POST commit`. */
export interface ICommitResult {
  commit: string | null;
  short?: string;
  pushed?: boolean;
  head?: ICommitInfo;
  nothing_to_commit?: boolean;
  message?: string;
}

/** `GET app`, `DELETE app`. */
export interface IAppState {
  status: AppStatus;
  url: string;
  commit: string | null;
  logs: string[];
  published_at?: string | null;
}

/** `POST publish`. */
export interface IPublishResult {
  url: string;
  status: AppStatus;
  commit: string | null;
  logs: string[];
}

/** The JSON body of an error answer. */
export interface IErrorBody {
  error: string;
  message: string;
  status: number;
}

/**
 * The calls the panel makes; `handler.ts` implements them over HTTP, tests
 * with a fake.
 */
export interface IWorkspaceClient {
  getWorkspace(): Promise<IWorkspaceState>;
  commit(message: string): Promise<ICommitResult>;
  publish(message?: string): Promise<IPublishResult>;
  getApp(): Promise<IAppState>;
  unpublish(): Promise<IAppState>;
}

/** What the panel is doing right now (at most one write at a time). */
export type BusyAction = 'committing' | 'publishing' | 'unpublishing' | null;
