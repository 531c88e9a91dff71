/** Registers the consent functions with the Functions host (the handlers live in handlers/consent-handlers.ts). */
import { app } from '@azure/functions';
import { consentHandlers } from './handlers/consent-handlers';
import { hostContext } from './runtime';

const handlers = consentHandlers(hostContext);
app.http('consentLanding', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'consent',
  handler: handlers.landing,
});
app.http('consentStart', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'consent/start',
  handler: handlers.start,
});
app.http('consentCallback', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'consent/callback',
  handler: handlers.callback,
});
app.http('invitationsCreate', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'invitations',
  handler: handlers.invite,
});
