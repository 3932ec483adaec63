/** The seed named each image's profile after the image: `<name>.seccomp.json` in -r. */
export const profileFileName = (imageName: string) => `${imageName}.seccomp.json`;
