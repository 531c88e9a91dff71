import { describeCrashAndResume } from './support/crash-resume';

describeCrashAndResume(0.2);
