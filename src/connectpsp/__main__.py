from connectpsp.command import main

main()
