/**
 * The IMAD side panel: a ReactWidget over a `WorkspaceModel`.
 *
 * Top to bottom: repository, branch, last commit; Changes (click to open) and
 * the commit box; Publish with its progress; the app's status, URL and
 * published commit; Logs; Unpublish. Every control is a real button, link or
 * text field with an accessible label, so the panel works by keyboard.
 */
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useRef, useState } from 'react';

import {
  STATUS_LABELS,
  STATUS_LETTERS,
  appPath,
  crashSummary,
  firstLine,
  relativeTime,
  shortSha,
  statusDescription,
  syncSummary
} from './format';
import { WorkspaceModel } from './model';
import { IChange, PANEL_ID } from './tokens';

/** What the panel asks of the lab (opening files, confirming). */
export interface IPanelActions {
  openFile(path: string): void;
  /** Ask for confirmation, then unpublish. */
  unpublish(): void;
}

/** Re-render when the model changes; tick every 30 s for relative times. */
function useModel(model: WorkspaceModel): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = () => setVersion(v => v + 1);
    model.changed.connect(bump);
    const timer = setInterval(bump, 30000);
    return () => {
      model.changed.disconnect(bump);
      clearInterval(timer);
    };
  }, [model]);
  return version;
}

function Section(props: {
  title: string;
  id: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <section className="imad-Section" aria-labelledby={props.id}>
      <h3 className="imad-Section-title" id={props.id}>
        {props.title}
      </h3>
      {props.children}
    </section>
  );
}

function RepositoryView({ model }: { model: WorkspaceModel }): JSX.Element {
  const ws = model.workspace;
  if (!ws) {
    return <p className="imad-Muted">Loading your workspace…</p>;
  }
  if (ws.state !== 'ready') {
    return (
      <p
        className={ws.state === 'error' ? 'imad-Error' : 'imad-Muted'}
        role="status"
      >
        {ws.state === 'cloning'
          ? 'Your workspace is being prepared: copying your repository…'
          : ws.error || 'Your workspace could not be prepared.'}
      </p>
    );
  }
  const repo = ws.repository;
  const sync = syncSummary(ws.ahead, ws.behind);
  return (
    <dl className="imad-Facts">
      <dt>Repository</dt>
      <dd className="imad-Repository">
        {repo?.web_url ? (
          <a
            href={repo.web_url}
            target="_blank"
            rel="noopener noreferrer"
            title={`Open ${repo.name} in a new tab`}
          >
            {repo.name}
          </a>
        ) : (
          <span title={repo?.clone_url}>{repo?.name ?? '—'}</span>
        )}
      </dd>
      <dt>Branch</dt>
      <dd className="imad-Branch">
        {ws.branch ?? '—'}
        {sync && <span className="imad-Muted"> ({sync})</span>}
      </dd>
      <dt>Last commit</dt>
      <dd className="imad-Head">
        {ws.head ? (
          <>
            <code className="imad-Sha" title={ws.head.sha}>
              {ws.head.short || shortSha(ws.head.sha)}
            </code>{' '}
            <span className="imad-Head-message">
              {firstLine(ws.head.message)}
            </span>{' '}
            <time
              className="imad-Muted"
              dateTime={ws.head.time}
              title={ws.head.time}
            >
              {relativeTime(ws.head.time)}
            </time>
          </>
        ) : (
          <span className="imad-Muted">no commit yet</span>
        )}
      </dd>
    </dl>
  );
}

function ChangeItem(props: {
  change: IChange;
  appDir: string;
  actions: IPanelActions;
}): JSX.Element {
  const { change, appDir, actions } = props;
  const letter = STATUS_LETTERS[change.status] ?? '?';
  const badge = (
    <span
      className={`imad-ChangeStatus imad-ChangeStatus-${change.status}`}
      title={change.status}
      aria-hidden="true"
    >
      {letter}
    </span>
  );
  if (change.status === 'deleted') {
    return (
      <li className="imad-Change" data-status={change.status}>
        <span
          className="imad-Change-path imad-Change-deleted"
          aria-label={`${change.path}, deleted`}
        >
          {change.path}
        </span>
        {badge}
      </li>
    );
  }
  return (
    <li className="imad-Change" data-status={change.status}>
      <button
        className="imad-Change-open"
        type="button"
        onClick={() => actions.openFile(appPath(appDir, change.path))}
        aria-label={`Open ${change.path}, ${change.status}`}
        title={`Open ${change.path}`}
      >
        {change.path}
      </button>
      {badge}
    </li>
  );
}

function ChangesView(props: {
  model: WorkspaceModel;
  actions: IPanelActions;
}): JSX.Element {
  const { model, actions } = props;
  const ws = model.workspace;
  const changes = ws?.state === 'ready' ? ws.changes : [];
  const commitReason = model.commitDisabledReason;
  return (
    <Section title={`Changes (${changes.length})`} id="imad-changes-title">
      {changes.length === 0 ? (
        <p className="imad-Muted imad-NoChanges">
          No changes since the last commit.
        </p>
      ) : (
        <ul className="imad-Changes" aria-label="Changed files">
          {changes.map(change => (
            <ChangeItem
              key={`${change.status}:${change.path}`}
              change={change}
              appDir={ws?.app_dir ?? ''}
              actions={actions}
            />
          ))}
        </ul>
      )}
      <label className="imad-Label" htmlFor="imad-commit-message">
        Commit message
      </label>
      <textarea
        id="imad-commit-message"
        className="imad-CommitMessage jp-mod-styled"
        rows={2}
        value={model.message}
        placeholder="Describe your change"
        disabled={model.busy !== null}
        onChange={event => {
          model.message = event.target.value;
        }}
        onKeyDown={event => {
          if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            void model.commit();
          }
        }}
        aria-describedby="imad-commit-reason"
      />
      <div className="imad-Buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept imad-CommitButton"
          disabled={commitReason !== null}
          aria-disabled={commitReason !== null}
          title={
            commitReason ??
            'Commit your changes and push them to your repository'
          }
          onClick={() => void model.commit()}
        >
          Commit
        </button>
      </div>
      <p
        className="imad-Reason imad-Muted"
        id="imad-commit-reason"
        aria-live="polite"
      >
        {commitReason ?? ''}
      </p>
    </Section>
  );
}

function PublishView(props: {
  model: WorkspaceModel;
  actions: IPanelActions;
}): JSX.Element {
  const { model, actions } = props;
  const app = model.app;
  const ws = model.workspace;
  const status = app?.status ?? 'unpublished';
  const publishReason = model.publishDisabledReason;
  const hasChanges = (ws?.changes.length ?? 0) > 0;
  const publishing = model.busy === 'publishing';
  const url = app?.url || ws?.app_url || '';
  const logsRef = useRef<HTMLPreElement>(null);
  const logs = app?.logs ?? [];
  useEffect(() => {
    // Follow the end of the logs, like a terminal.
    const node = logsRef.current;
    if (node) {
      node.scrollTop = node.scrollHeight;
    }
  }, [logs.length, logs[logs.length - 1]]);
  return (
    <Section title="Your app" id="imad-app-title">
      <div className="imad-Buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept imad-PublishButton"
          disabled={publishReason !== null}
          aria-disabled={publishReason !== null}
          title={
            publishReason ??
            (hasChanges
              ? 'Commit your changes with the message above, push, and publish'
              : 'Publish your last commit')
          }
          onClick={() => void model.publish()}
        >
          {hasChanges ? 'Commit & Publish' : 'Publish'}
        </button>
      </div>
      {publishing && (
        <div className="imad-Progress" role="status" aria-live="polite">
          <div className="imad-ProgressBar" aria-hidden="true">
            <div className="imad-ProgressBar-fill" />
          </div>
          <span>{model.progress}</span>
        </div>
      )}
      {!publishing && publishReason && model.busy === null && (
        <p className="imad-Reason imad-Muted">{publishReason}</p>
      )}
      <dl className="imad-Facts">
        <dt>Status</dt>
        <dd>
          <span
            className={`imad-StatusBadge imad-StatusBadge-${status}`}
            data-status={status}
            role="status"
            aria-live="polite"
            aria-label={`App status: ${STATUS_LABELS[status]}`}
            title={statusDescription(status)}
          >
            {STATUS_LABELS[status]}
          </span>
        </dd>
        <dt>Address</dt>
        <dd className="imad-AppUrl">
          {url && status !== 'unpublished' ? (
            <a
              href={url}
              target="_blank"
              rel="noopener noreferrer"
              aria-label={`Open your live app at ${url} in a new tab`}
            >
              {url}
            </a>
          ) : (
            <span
              className="imad-Muted"
              title="Your app's address once published"
            >
              {url || '—'}
            </span>
          )}
        </dd>
        <dt>Published commit</dt>
        <dd>
          {app?.commit ? (
            <code className="imad-Sha imad-PublishedCommit" title={app.commit}>
              {shortSha(app.commit)}
            </code>
          ) : (
            <span className="imad-Muted">none</span>
          )}
          {app?.published_at && (
            <span className="imad-Muted">
              {' '}
              {relativeTime(app.published_at)}
            </span>
          )}
        </dd>
      </dl>
      <h4 className="imad-Subtitle" id="imad-logs-title">
        Logs
      </h4>
      {status === 'crashed' && (
        <p className="imad-Error imad-CrashSummary" role="alert">
          {crashSummary(logs) ?? 'Your app stopped. Read its logs below.'}
        </p>
      )}
      <pre
        ref={logsRef}
        className={`imad-Logs${status === 'crashed' ? ' imad-Logs-crashed' : ''}`}
        role="log"
        aria-live="polite"
        aria-labelledby="imad-logs-title"
        tabIndex={0}
      >
        {logs.length > 0 ? logs.join('\n') : 'No output yet.'}
      </pre>
      <div className="imad-Buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-warn imad-UnpublishButton"
          disabled={status === 'unpublished' || model.busy !== null}
          title={
            status === 'unpublished'
              ? 'Your app is not published'
              : 'Stop your app and take it offline (asks first)'
          }
          onClick={() => actions.unpublish()}
        >
          Unpublish
        </button>
      </div>
    </Section>
  );
}

export function IMADPanelView(props: {
  model: WorkspaceModel;
  actions: IPanelActions;
}): JSX.Element {
  const { model, actions } = props;
  useModel(model);
  return (
    <div className="imad-Panel-content">
      <header className="imad-Header">
        <h2 className="imad-Title">IMAD</h2>
        <button
          type="button"
          className="imad-IconButton"
          aria-label="Refresh the IMAD panel"
          title="Refresh"
          onClick={() => void model.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
      </header>
      {model.connectionError && (
        <p className="imad-Error" role="alert">
          {model.connectionError}
        </p>
      )}
      <RepositoryView model={model} />
      <ChangesView model={model} actions={actions} />
      <PublishView model={model} actions={actions} />
    </div>
  );
}

/** The side panel widget. */
export class IMADPanel extends ReactWidget {
  constructor(
    readonly model: WorkspaceModel,
    private readonly _actions: IPanelActions
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('imad-Panel');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'IMAD: commit and publish your app');
  }

  /** Put the keyboard focus in the commit message box. */
  focusMessage(): void {
    this.node
      .querySelector<HTMLTextAreaElement>('#imad-commit-message')
      ?.focus();
  }

  protected render(): JSX.Element {
    return <IMADPanelView model={this.model} actions={this._actions} />;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }
}
