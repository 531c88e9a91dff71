import { connectedPage, escapeHtml, landingPage, problemPage } from '../../src/consent/pages';

describe('consent pages', () => {
  it('escapes every character that could open markup or an attribute', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;',
    );
  });

  it('escape reflected values on every page', () => {
    const evil = '<script>alert(1)</script>';
    for (const page of [
      landingPage({
        isvName: evil,
        authorityHost: 'https://login.microsoftonline.com',
        invitationNeeded: false,
      }),
      landingPage({
        isvName: 'Contoso',
        authorityHost: 'https://login.microsoftonline.com',
        invitation: evil,
        invitationNeeded: false,
      }),
      landingPage({
        isvName: evil,
        authorityHost: 'https://login.microsoftonline.com',
        invitationNeeded: true,
      }),
      connectedPage(evil, new Date('2026-11-25T12:00:00Z'), []),
      connectedPage('contoso.com', new Date(), [evil]),
      problemPage(400, evil, evil),
    ]) {
      expect(page.body).not.toContain(evil);
      expect(page.body).toContain('&lt;script&gt;');
    }
  });

  it('say when the files will first be read', () => {
    const page = connectedPage('contoso.onmicrosoft.com', new Date('2026-11-25T12:00:00Z'), []);
    expect(page.body).toContain('2026-11-25 12:00:00 UTC');
    expect(page.body).toContain('contoso.onmicrosoft.com');
  });

  it('carry no script and no external asset', () => {
    const page = landingPage({
      isvName: 'Contoso',
      authorityHost: 'https://login.microsoftonline.com',
      invitationNeeded: false,
    });
    expect(page.headers['Content-Security-Policy']).toContain(
      "form-action 'self' https://login.microsoftonline.com",
    );
    expect(page.body).not.toMatch(/<script|https?:\/\/|<link/i);
    expect(page.body).toMatch(/<label for="tenant">/);
    expect(page.body).toMatch(/<html lang="en">/);
  });

  it('ask for an invitation link instead of offering sign-in when one is needed', () => {
    const page = landingPage({
      isvName: 'Contoso',
      authorityHost: 'https://login.microsoftonline.com',
      invitationNeeded: true,
    });
    expect(page.body).toContain('You need an invitation link');
    expect(page.body).not.toMatch(/<form/);
  });
});
