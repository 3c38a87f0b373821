import { render } from 'preact';
import { Api } from './api';
import { App } from './app';
import { loadConfig, startSession } from './auth';
import './styles.css';

async function start(root: HTMLElement): Promise<void> {
  try {
    const session = await startSession(await loadConfig());
    render(<App api={new Api(session)} />, root);
  } catch (error) {
    render(
      <main class="signin">
        <h1>loglens</h1>
        <p class="error" role="alert">
          {(error as Error).message}
        </p>
        <p>Locally, open the console URL that <code>loglens dev</code> prints (it signs you in once).</p>
      </main>,
      root,
    );
  }
}

void start(document.getElementById('app')!);
